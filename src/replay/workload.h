// The arrival sequence of the published protocol: a trace's pods in a seeded random order,
// inflated with random copies (or trimmed) until the total GPU request is a chosen multiple of
// the cluster's GPU capacity.
#pragma once

#include <cstdint>
#include <vector>

#include "replay/cluster.h"

namespace gpuslice::replay {

struct ArrivalOptions {
  // Total GPU request of the sequence as a multiple of the cluster's GPU capacity.
  double inflate = 1.3;
  // Seeds the shuffle and the copies; the same seed gives the same sequence.
  uint64_t seed = 42;
};

// Returns `trace` shuffled, then:
// - while its total GPU request is below inflate x capacity, copies of trace pods drawn
//   uniformly with replacement are appended, stopping before the first copy that would take
//   the total past the target;
// - while it is above the target, uniformly random pods are removed.
// Pods without GPUs count zero towards the total but still arrive.
// REQUIRES: options.inflate > 0 and trace not empty.
std::vector<PodRequest> ArrivalSequence(const std::vector<PodRequest>& trace,
                                        int64_t gpu_capacity_milli, const ArrivalOptions& options);

}  // namespace gpuslice::replay
