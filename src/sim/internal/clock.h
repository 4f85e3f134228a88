// The clocks the simulator runs on. CLOCK_MONOTONIC is shared by every process on the node,
// which is what lets processes agree on one kernel timeline per GPU.
#pragma once

#include <cstdint>
#include <ctime>

namespace gpuslice::sim::internal {

inline uint64_t MonotonicNs() {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<uint64_t>(now.tv_sec) * 1'000'000'000ULL + static_cast<uint64_t>(now.tv_nsec);
}

inline uint64_t RealtimeNs() {
  timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  return static_cast<uint64_t>(now.tv_sec) * 1'000'000'000ULL + static_cast<uint64_t>(now.tv_nsec);
}

// Sleeps until CLOCK_MONOTONIC reaches `deadline_ns`, resuming after signals.
void SleepUntil(uint64_t deadline_ns);

}  // namespace gpuslice::sim::internal
