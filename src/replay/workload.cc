#include "replay/workload.h"

#include <cassert>
#include <cmath>

#include "replay/internal/random.h"

namespace gpuslice::replay {
namespace {

constexpr uint64_t kShuffleStream = 0;
constexpr uint64_t kInflateStream = 1;

}  // namespace

std::vector<PodRequest> ArrivalSequence(const std::vector<PodRequest>& trace,
                                        int64_t gpu_capacity_milli, const ArrivalOptions& options) {
  assert(options.inflate > 0 && !trace.empty());
  std::vector<PodRequest> pods = trace;
  internal::Rng shuffle(internal::StreamSeed(options.seed, kShuffleStream));
  shuffle.Shuffle(pods);

  const double target = options.inflate * static_cast<double>(gpu_capacity_milli);
  int64_t total = 0;
  for (const PodRequest& pod : pods) total += pod.TotalGpuMilli();
  internal::Rng draw(internal::StreamSeed(options.seed, kInflateStream));
  if (static_cast<double>(total) < target) {
    while (true) {
      const PodRequest& copy = trace[draw.Below(trace.size())];
      if (static_cast<double>(total + copy.TotalGpuMilli()) > target) break;
      total += copy.TotalGpuMilli();
      pods.push_back(copy);
    }
  } else {
    // Removing from the shuffled order keeps the survivors in random order.
    while (static_cast<double>(total) > target && !pods.empty()) {
      const size_t victim = draw.Below(pods.size());
      total -= pods[victim].TotalGpuMilli();
      pods.erase(pods.begin() + static_cast<std::ptrdiff_t>(victim));
    }
  }
  return pods;
}

}  // namespace gpuslice::replay
