// Device memory accounting for all processes of a container, in its shared region.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <mutex>

#include "core/region.h"
#include "core/status.h"
#include "preload/options.h"

namespace gpuslice::preload {

// Charges and refunds device memory against each slice's limit, for this process, in a
// region shared with the container's other processes. The process's own holdings live in
// its slot, so when it dies (even by SIGKILL in the middle of a charge) the next process
// that finds it dead gives its memory back; the driver has freed it by then.
//
// Every process of the container can write the region, so nothing read from it is trusted
// to let this process pass its limit: the process keeps its own holdings in its own memory
// too, puts them back into its slot when the slot says otherwise, and recounts the container's
// use from the slots (saturating) when the total is below what this process alone holds.
// A mutex whose type was written over is never locked (glibc could abort on it): the charge
// is refused instead.
//
// Thread-safe. Charge and Refund take the device's robust, process-shared mutex for a few
// loads and stores; a slot changes hands (reclaim, takeover) under device 0's. Nothing else
// blocks.
class MemoryLedger {
 public:
  // REQUIRES: `region` and `options` outlive the ledger.
  MemoryLedger(core::region::Region* region, const Options& options);
  MemoryLedger(const MemoryLedger&) = delete;
  MemoryLedger& operator=(const MemoryLedger&) = delete;

  // Takes a slot for this process (done by the first Charge otherwise), first reclaiming the
  // slots of dead processes. A slot still held by this PID comes from the image exec
  // replaced, or from a dead process that had the PID before; either way its memory is gone:
  // it is taken over empty. Returns ResourceExhausted when all kMaxProcesses slots hold live
  // processes.
  Status Attach();

  // Adds `bytes` on slice `device` to this process when the container stays within the
  // slice's limit, returning true; otherwise changes nothing and returns false. Before
  // refusing, reclaims the memory of the container's dead processes and tries again.
  // REQUIRES: 0 <= device < core::region::kMaxDevices.
  bool Charge(int device, uint64_t bytes);

  // Gives back `bytes` this process was charged on `device` (never more than it holds).
  void Refund(int device, uint64_t bytes);

  // Memory the container uses on `device` (never less than this process holds) and the
  // slice's limit (zero once RefuseAll was called).
  uint64_t Used(int device) const;
  uint64_t Limit(int device) const {
    return refuse_all_.load(std::memory_order_acquire) ? 0 : options_.devices[device].memory_bytes;
  }

  // From now on every charge above zero bytes is refused: for a container whose region cannot
  // be used, where each process counting alone could take the whole limit.
  void RefuseAll() { refuse_all_.store(true, std::memory_order_release); }

  // Records `nanos` of GPU time this process used on `device` (read by `gpuslice inspect`).
  void AddBusy(int device, uint64_t nanos);

  // Frees the slots of the container's processes known to have ended, giving their memory
  // back; a process /proc cannot tell about counts as running. Returns how many were freed.
  int ReclaimDead();

  // In a child after fork: the child holds none of its parent's memory and takes its own slot.
  void ForgetSlotAfterFork();

 private:
  core::region::ProcessSlot* Slot();
  // The slot this PID still holds, emptied and made this process's; nullptr when none.
  core::region::ProcessSlot* TakeOverSlotOfThisPid(pid_t self, uint64_t start_time);
  // A free slot made this process's; nullptr when none is free.
  core::region::ProcessSlot* ClaimFreeSlot(pid_t self, uint64_t start_time);
  // Empties and frees `slot` when the owner found dead, `pid` started at `start_time`, still
  // holds it. Returns true when it freed the slot.
  bool FreeIfStillHeld(core::region::ProcessSlot& slot, pid_t pid, uint64_t start_time);
  // Gives back everything `slot` holds; false when a device's mutex cannot be had.
  // REQUIRES: the caller holds the ownership lock (see memory_ledger.cc).
  bool EmptySlot(core::region::ProcessSlot& slot);
  // Makes `slot` (this process's) and the device's total agree with held_ again where another
  // process wrote over them. REQUIRES: the caller holds `device`'s memory mutex.
  void RepairFromHeld(core::region::ProcessSlot& slot, int device);

  core::region::Region* const region_;
  const Options& options_;
  std::atomic<core::region::ProcessSlot*> slot_{nullptr};
  pid_t slot_pid_ = 0;  // the PID slot_ was taken for; set before slot_ is published
  std::mutex attach_mutex_;
  // This process's holdings per device, in its own memory; changed under the device's mutex.
  std::atomic<uint64_t> held_[core::region::kMaxDevices] = {};
  std::atomic<bool> refuse_all_{false};
};

}  // namespace gpuslice::preload
