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
  // REQUIRES: 0 <= device < options.device_count.
  bool Charge(int device, uint64_t bytes);

  // Gives back `bytes` this process was charged on `device` (never more than it holds).
  void Refund(int device, uint64_t bytes);

  // Memory the container uses on `device` and the slice's limit.
  uint64_t Used(int device) const;
  uint64_t Limit(int device) const { return options_.devices[device].memory_bytes; }

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

  core::region::Region* const region_;
  const Options& options_;
  std::atomic<core::region::ProcessSlot*> slot_{nullptr};
  std::mutex attach_mutex_;
};

}  // namespace gpuslice::preload
