#include "sim/internal/clock.h"

#include <cerrno>

namespace gpuslice::sim::internal {

void SleepUntil(uint64_t deadline_ns) {
  timespec deadline;
  deadline.tv_sec = static_cast<time_t>(deadline_ns / 1'000'000'000ULL);
  deadline.tv_nsec = static_cast<long>(deadline_ns % 1'000'000'000ULL);
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, nullptr) == EINTR) {
  }
}

}  // namespace gpuslice::sim::internal
