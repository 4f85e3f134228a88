// The compute share of each slice: a credit of GPU time per GPU, shared by the container's
// processes in the region, refilled at the share's rate and drained by measured busy time.
#pragma once

#include <cstdint>

#include "core/region.h"
#include "preload/clock.h"
#include "preload/options.h"

namespace gpuslice::preload {

// Lock-free and thread-safe; several processes may drive the same region at once.
//
// Credit grows at share% of wall time up to share% of kBurstWindowNanos, so an idle slice
// cannot save up for a long burst; measured busy time is taken off as it is reported, so
// credit goes negative after work beyond the share and launches wait until it is paid back.
// The window is about NVML's sampling period: a slice that waited on a late sample can make
// up for the time it lost, or two greedy slices summing to 100% would leave the GPU idle.
class ComputeThrottle {
 public:
  static constexpr uint64_t kBurstWindowNanos = 100'000'000;
  // Debt is bounded so that one wrong sample cannot stall a slice for long.
  static constexpr int64_t kMaxDebtNanos = 1'000'000'000;

  // REQUIRES: `region`, `options` and `clock` outlive the throttle.
  ComputeThrottle(core::region::Region* region, const Options& options, Clock& clock);

  // True when slice `device` is enforced (share below 100%).
  bool Enforced(int device) const;

  // The hot-path test: one relaxed load. True while `device` has credit left.
  bool HasCredit(int device) const {
    return region_->devices[device].credit_ns.load(std::memory_order_relaxed) > 0;
  }

  // Blocks until `device` has credit, refilling it as time passes (it does not depend on any
  // other thread to make progress). Returns how long it waited, by the clock.
  uint64_t WaitForCredit(int device);

  // Adds the credit earned since the last refill by any process of the container.
  void Refill(int device);

  // Takes `busy_nanos` of measured GPU time off `device`'s credit.
  void Charge(int device, uint64_t busy_nanos);

 private:
  int64_t Cap(int device) const;

  core::region::Region* const region_;
  const Options& options_;
  Clock& clock_;
};

}  // namespace gpuslice::preload
