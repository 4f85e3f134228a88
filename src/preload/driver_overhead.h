// Memory the driver takes for a process that no allocation call returns: each context's own
// memory, modules and libraries once loaded on the device (at their first launch, with lazy
// loading), stacks the driver grows for a launch, the heaps and buffers of cuCtxSetLimit. The
// driver's report of what the process holds is the truth; what the process was charged for
// allocations is the prediction; the difference is charged here.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>

#include "core/contract.h"
#include "preload/clock.h"
#include "preload/memory_ledger.h"

namespace gpuslice::preload {

// Thread-safe: one mutex (never taken on a hot path).
class DriverOverhead {
 public:
  // Less is given back only once every report for this long has shown less.
  static constexpr uint64_t kLowerAfterNanos = 50'000'000;

  // REQUIRES: `clock` outlives this.
  explicit DriverOverhead(Clock& clock) : clock_(clock) {}

  // The process's allocations and frees that began and ended between the ledger and the
  // driver so far (monotonic; allocations counted in bytes, frees in calls).
  struct Calls {
    uint64_t allocated_begun = 0;
    uint64_t allocated_ended = 0;
    uint64_t frees_begun = 0;
    uint64_t frees_ended = 0;
    bool operator==(const Calls&) const = default;
  };

  // Where Update looks.
  struct Sources {
    // What the driver reports the process holds on the slice's GPU; nullopt when it cannot say.
    std::function<std::optional<uint64_t>()> report;
    // The process's allocations and frees so far.
    std::function<Calls()> calls;
    // What the process is charged for that the driver does not count for it: graph nodes not
    // launched yet, mappings of memory imported from other processes.
    std::function<uint64_t()> uncounted;
  };

  // Brings this process's overhead charge on `slice` to what the report says the process holds
  // there, minus everything else `ledger` holds for it there that the driver counts (read
  // before and after the report). An allocation is charged before the driver makes it and a
  // free given back after the driver frees it, so the report shows more than the larger read
  // by at most the allocations under way in between (begun before the end, not ended before
  // the start): more than that is charged at once, past the limit if need be (the driver holds
  // it already, and the container is refused further memory while over). Less is known only
  // from a report with nothing under way at all, and given back once every such report for
  // kLowerAfterNanos has shown less, by the most of them. Returns the bytes charged now, or
  // nullopt when the report could not be had.
  std::optional<uint64_t> Update(MemoryLedger& ledger, int slice, const Sources& sources);

  // Gives back `bytes` Update charged, after the operation that took them was undone.
  void Lower(MemoryLedger& ledger, int slice, uint64_t bytes);

  // Charges `bytes` a caller measured another way (NVML without per-process figures), when
  // they fit; they stay charged until the process exits or a report says otherwise.
  bool ChargeMeasured(MemoryLedger& ledger, int slice, uint64_t bytes);

  uint64_t Charged(int slice) const;

 private:
  struct Slice {
    uint64_t charged = 0;
    // Since when every report has shown less than `charged` (0: the last did not), and the most
    // any of them showed.
    uint64_t lower_since = 0;
    uint64_t lower_to = 0;
  };

  Clock& clock_;
  mutable std::mutex mutex_;
  Slice slices_[core::contract::kMaxVisibleGpus];
};

}  // namespace gpuslice::preload
