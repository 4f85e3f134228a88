// Time, injected: components that wait or measure age (health recovery, region cleanup,
// throttling) take a Clock so tests drive time instead of sleeping.
#pragma once

#include <chrono>

namespace gpuslice::core {

class Clock {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  virtual ~Clock() = default;
  // Monotonic now. Thread-safe.
  virtual TimePoint Now() const = 0;
  // Wall-clock now, for timestamps people read (file names, logs). Thread-safe.
  virtual std::chrono::system_clock::time_point WallNow() const = 0;
};

class SystemClock : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::steady_clock::now(); }
  std::chrono::system_clock::time_point WallNow() const override {
    return std::chrono::system_clock::now();
  }
  // A process-wide instance; never destroyed.
  static const Clock& Get() {
    static const SystemClock* clock = new SystemClock();
    return *clock;
  }
};

}  // namespace gpuslice::core
