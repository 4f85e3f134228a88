#include "preload/clock.h"

#include <time.h>

#include <cerrno>

namespace gpuslice::preload {
namespace {

class MonotonicClock final : public Clock {
 public:
  uint64_t NowNanos() override {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<uint64_t>(now.tv_sec) * 1'000'000'000ULL +
           static_cast<uint64_t>(now.tv_nsec);
  }
  void SleepFor(uint64_t nanos) override {
    timespec remaining{static_cast<time_t>(nanos / 1'000'000'000ULL),
                       static_cast<long>(nanos % 1'000'000'000ULL)};
    while (nanosleep(&remaining, &remaining) != 0 && errno == EINTR) {
    }
  }
};

}  // namespace

Clock& SystemClock() {
  // Never destroyed: hooks may run during other libraries' exit handlers.
  static MonotonicClock* clock = new MonotonicClock();
  return *clock;
}

}  // namespace gpuslice::preload
