// One replay run: pods arrive one at a time and never leave; each goes to the node its policy
// scores highest among those that fit (ties to the first node in a seeded random order, like
// the reference scheduler's tie-break on randomly prefixed node names) on the GPUs the policy
// chooses. A pod that fits nowhere fails and is dropped; nothing is retried.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "core/status.h"
#include "replay/cluster.h"
#include "replay/metrics.h"
#include "replay/policy.h"

namespace gpuslice::replay {

struct ReplayOptions {
  // Seeds the node order that breaks score ties.
  uint64_t node_order_seed = 42;
  // Called every `progress_every` pods with the number placed or failed so far; may be empty.
  std::function<void(int64_t pods_done)> on_progress = {};
  int64_t progress_every = 1024;
};

struct ReplayOutcome {
  AllocationCurve curve;
  int64_t pods = 0;         // pods that arrived
  int64_t failed_pods = 0;  // pods that fit nowhere
  int64_t arrived_gpu_milli = 0;
  int64_t allocated_gpu_milli = 0;
};

// Replays `arrivals` on `cluster` (taken by value: the run changes its own copy).
// Returns Internal when the policy chooses GPUs the node cannot give, and FailedPrecondition
// when the cluster has no GPU capacity.
Result<ReplayOutcome> Replay(Cluster cluster, const std::vector<PodRequest>& arrivals,
                             PlacementPolicy& policy, const ReplayOptions& options);

}  // namespace gpuslice::replay
