// Time as the compute throttle sees it, behind one seam so tests drive it without sleeping.
#pragma once

#include <cstdint>

namespace gpuslice::preload {

// Thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  // CLOCK_MONOTONIC in nanoseconds: one timeline for every process on the node.
  virtual uint64_t NowNanos() = 0;
  // Blocks the calling thread for about `nanos`.
  virtual void SleepFor(uint64_t nanos) = 0;
};

// The system's monotonic clock; lives for the whole process.
Clock& SystemClock();

}  // namespace gpuslice::preload
