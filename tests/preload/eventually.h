// Bounded waits for what the library's background reconciliation makes true within its period
// (50 ms): the process tests poll instead of sleeping a fixed time.
#pragma once

#include <chrono>
#include <functional>
#include <thread>

namespace gpuslice::testing {

// Polls `condition` every 10 ms until it holds or 10 s pass; returns whether it held.
inline bool Eventually(const std::function<bool()>& condition) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < end) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return condition();
}

}  // namespace gpuslice::testing
