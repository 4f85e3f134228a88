// The published experiment: every policy replayed on the same arrival sequences, one per seed,
// summarized per policy at x = 100 and x = 130 (median, min, max over seeds). Independent runs
// execute on a small pool of threads.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/status.h"
#include "replay/cluster.h"
#include "replay/metrics.h"

namespace gpuslice::replay {

struct ExperimentProgress {
  int runs_done = 0;
  int runs_total = 0;
  int64_t pods_done = 0;  // over all runs
  int64_t pods_total = 0;
};

struct ExperimentOptions {
  std::vector<std::string> policies = {};  // names from KnownPolicies(), in report order
  std::vector<uint64_t> seeds = {42, 43, 44, 45, 46, 47, 48, 49, 50, 51};
  double inflate = 1.3;  // see ArrivalOptions::inflate; must be > 0
  int jobs = 0;          // worker threads; 0 = one per hardware thread
  // Called as runs progress, from worker threads but never concurrently; may be empty.
  std::function<void(const ExperimentProgress&)> on_progress = {};
};

struct RunResult {
  uint64_t seed = 0;
  AllocationCurve curve{1};
  int64_t pods = 0;
  int64_t failed_pods = 0;
  double seconds = 0;  // wall time of this run
};

struct PolicyResult {
  std::string name;
  std::vector<RunResult> runs;  // in the order of ExperimentOptions::seeds

  // The allocation % at `x` over the seeds that reach it; nullopt when none does.
  std::optional<Spread> At(int x) const;
};

struct ExperimentResult {
  std::vector<PolicyResult> policies;  // in the order of ExperimentOptions::policies
  int64_t gpu_capacity_milli = 0;
  int nodes = 0;
  int64_t trace_pods = 0;
  double seconds = 0;  // wall time of the whole experiment
  int jobs = 0;        // worker threads used
};

// Builds the cluster from `nodes`, resolves `pods`, derives the target pod mix from them (the
// shapes the policies may expect: those of the trace), and replays every policy on every
// seed's arrival sequence.
// Returns InvalidArgument for bad options, specs, or policy names; Internal if a policy
// misbehaves.
Result<ExperimentResult> RunExperiment(const std::vector<NodeSpec>& nodes,
                                       const std::vector<PodSpec>& pods,
                                       const ExperimentOptions& options);

}  // namespace gpuslice::replay
