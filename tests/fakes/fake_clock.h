// A Clock tests move by hand.
#pragma once

#include <atomic>
#include <chrono>

#include "core/clock.h"

namespace gpuslice::testing {

class FakeClock : public core::Clock {
 public:
  TimePoint Now() const override { return TimePoint(std::chrono::nanoseconds(now_ns_.load())); }
  std::chrono::system_clock::time_point WallNow() const override {
    return std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::nanoseconds(kWallEpochNs + now_ns_.load())));
  }
  void Advance(std::chrono::nanoseconds by) { now_ns_ += by.count(); }

 private:
  // 2026-01-01T00:00:00Z, so wall timestamps look real.
  static constexpr int64_t kWallEpochNs = 1767225600LL * 1000000000LL;
  std::atomic<int64_t> now_ns_{1000000000};
};

}  // namespace gpuslice::testing
