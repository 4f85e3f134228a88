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
// Small charges (up to a chunk of the limit: limit/64, at most 16 MiB; none below 4 MiB
// limits) come from a reserve the process charged in its slot beforehand: a compare-and-swap
// on a counter of this process, no lock. The reserve is refilled a chunk at a time and trimmed
// back to a chunk when it passes two, so each process holds at most two chunks charged but
// unspent; a charge that no longer fits spends the reserve first, so one process gets every
// byte of the limit. The container's other processes see the reserve as used until
// ReturnIdleReserve gives it back.
//
// Every process of the container can write the region, so nothing read from it is trusted
// to let this process pass its limit: the process keeps its own holdings (reserve included) in
// its own memory too, puts them back into its slot when the slot says otherwise, and recounts
// the container's use from the slots (saturating) when the total is below what this process
// alone holds. A mutex whose type was written over is never locked (glibc could abort on it):
// the charge is refused instead.
//
// Thread-safe. Refills, trims and charges past the chunk take the device's robust,
// process-shared mutex for a few loads and stores; a slot changes hands (reclaim, takeover)
// under device 0's. Nothing else blocks.
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
  // slice's limit, returning true and raising the peaks; otherwise counts a refusal and
  // returns false. Before refusing, reclaims the memory of the container's dead processes and
  // tries again.
  // REQUIRES: 0 <= device < core::region::kMaxDevices.
  bool Charge(int device, uint64_t bytes);
  // Charge without counting a refusal, for a caller that tries again before it refuses;
  // it calls CountRefusal once when it gives up.
  bool TryCharge(int device, uint64_t bytes);
  // Counts one refused allocation of `bytes` on slice `device`.
  void CountRefusal(int device, uint64_t bytes);

  // Adds `bytes` the driver already holds for this process (memory it took on its own): always,
  // even past the limit, which then refuses further charges until enough is given back.
  void ChargeHeld(int device, uint64_t bytes);

  // Gives back `bytes` this process was charged on `device` (never more than it holds).
  void Refund(int device, uint64_t bytes);

  // Memory the container uses on `device` (never less than this process holds; this process's
  // unspent reserve not included) and the slice's limit (zero once RefuseAll was called).
  uint64_t Used(int device) const;
  uint64_t Limit(int device) const {
    return refuse_all_.load(std::memory_order_acquire) ? 0 : options_.devices[device].memory_bytes;
  }
  // What this process is charged on `device`, its unspent reserve not included: never less
  // than what it has been charged and not refunded, whatever other threads do meanwhile.
  uint64_t Held(int device) const;

  // Gives this process's unspent reserve on `device` back to the container when it has not
  // changed since the previous call (the process has not charged or refunded anything small in
  // between). Called periodically, so an idle process holds no reserve for long.
  void ReturnIdleReserve(int device);

  // From now on every charge above zero bytes is refused: for a container whose region cannot
  // be used, where each process counting alone could take the whole limit.
  void RefuseAll() { refuse_all_.store(true, std::memory_order_release); }

  // Records `nanos` of GPU time this process used on `device`.
  void AddBusy(int device, uint64_t nanos);

  // Records one launch on `device` that waited `nanos` at the compute gate (region counters).
  void AddThrottled(int device, uint64_t nanos);

  // Publishes `nvml_pid`, this process's PID in NVML's reports (preload/nvml_pid.h), beside its
  // slot, for the node agent to attribute NVML's per-process utilization to the container.
  void PublishNvmlPid(unsigned int nvml_pid);

  // Frees the slots of the container's processes known to have ended, giving their memory
  // back; a process /proc cannot tell about counts as running. Returns how many were freed.
  int ReclaimDead();

  // In a child after fork: the child holds none of its parent's memory and takes its own slot.
  void ForgetSlotAfterFork();

 private:
  core::region::ProcessSlot* Slot();
  // The counters of `slot`'s process; nullptr for a null slot.
  core::region::SlotCounters* CountersOf(const core::region::ProcessSlot* slot) const;
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
  // Add to or take from held_, `slot` and the device's total; RemoveLocked takes no more than
  // held_ and returns what it took. REQUIRES: the caller holds `device`'s memory mutex.
  void AddLocked(core::region::ProcessSlot& slot, int device, uint64_t bytes);
  uint64_t RemoveLocked(core::region::ProcessSlot& slot, int device, uint64_t bytes);

  // Charges or refunds past the reserve, under the device's mutex.
  bool ChargeLocked(int device, uint64_t bytes, bool refill);
  void RefundLocked(int device, uint64_t bytes);
  // Takes what the reserve holds above `keep` and refunds it; returns how much.
  uint64_t TrimReserve(int device, uint64_t keep);

  core::region::Region* const region_;
  const Options& options_;
  std::atomic<core::region::ProcessSlot*> slot_{nullptr};
  pid_t slot_pid_ = 0;  // the PID slot_ was taken for; set before slot_ is published
  std::mutex attach_mutex_;
  // This process's holdings per device, in its own memory; changed under the device's mutex.
  std::atomic<uint64_t> held_[core::region::kMaxDevices] = {};
  std::atomic<bool> refuse_all_{false};
  // Published again with each slot this process takes (a slot is emptied when reclaimed).
  std::atomic<unsigned int> nvml_pid_{0};

  // Per slice: charges up to chunk_ come from reserve_, which is part of held_.
  struct alignas(64) Reserve {
    std::atomic<uint64_t> bytes{0};
    uint64_t seen_idle = 0;  // reserve at the last ReturnIdleReserve (its caller's alone)
  };
  uint64_t chunk_[core::region::kMaxDevices] = {};
  Reserve reserve_[core::region::kMaxDevices];
};

}  // namespace gpuslice::preload
