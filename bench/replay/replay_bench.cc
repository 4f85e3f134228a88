// Speed of one replay run on the openb default trace (10,800 pods on 1213 nodes) for each
// policy, on one thread, and of the fragmentation measure FGD evaluates for every candidate.
// Needs the trace (see openb.h); skips with a message without it.
#include <benchmark/benchmark.h>

#include <memory>
#include <optional>

#include "bench/replay/openb.h"
#include "replay/cluster.h"
#include "replay/fragmentation.h"
#include "replay/policy.h"
#include "replay/replay.h"
#include "replay/trace.h"
#include "replay/workload.h"

namespace gpuslice::replay::bench {
namespace {

// The default trace resolved against the GPU nodes, and seed 42's arrival sequence.
struct DefaultTrace {
  Cluster cluster;
  std::vector<PodRequest> pods;
  TargetPodMix mix;
  std::vector<PodRequest> arrivals;
};

const DefaultTrace* Load() {
  static const std::optional<DefaultTrace> loaded = []() -> std::optional<DefaultTrace> {
    Result<std::vector<NodeSpec>> nodes = LoadNodeList(NodeListPath());
    Result<std::vector<TracePod>> trace = LoadPodList(PodListPath("default"));
    if (!nodes.ok() || !trace.ok()) return std::nullopt;
    Result<Cluster> cluster = Cluster::Create(*nodes);
    if (!cluster.ok()) return std::nullopt;
    DefaultTrace loaded{*cluster, {}, {}, {}};
    for (const TracePod& pod : *trace) {
      Result<PodRequest> request = loaded.cluster.Resolve(pod.spec);
      if (!request.ok()) return std::nullopt;
      loaded.pods.push_back(*request);
    }
    loaded.mix = TargetPodMix::FromPods(loaded.pods);
    loaded.arrivals = ArrivalSequence(loaded.pods, loaded.cluster.gpu_capacity_milli(),
                                      {.inflate = 1.3, .seed = 42});
    return loaded;
  }();
  return loaded ? &*loaded : nullptr;
}

void BM_ReplayDefaultTrace(benchmark::State& state, std::string_view policy_name) {
  const DefaultTrace* trace = Load();
  if (trace == nullptr) {
    state.SkipWithError(("the openb trace is not at " + OpenbDirectory()).c_str());
    return;
  }
  int64_t pods = 0;
  for (auto _ : state) {
    std::unique_ptr<PlacementPolicy> policy =
        std::move(*MakePolicy(policy_name, {.seed = 42, .target_mix = &trace->mix}));
    Result<ReplayOutcome> outcome =
        Replay(trace->cluster, trace->arrivals, *policy, {.node_order_seed = 42});
    benchmark::DoNotOptimize(outcome);
    pods += static_cast<int64_t>(trace->arrivals.size());
  }
  state.counters["pods"] = static_cast<double>(trace->arrivals.size());
  state.counters["pods/s"] =
      benchmark::Counter(static_cast<double>(pods), benchmark::Counter::kIsRate);
}
BENCHMARK_CAPTURE(BM_ReplayDefaultTrace, fgd, "fgd")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_ReplayDefaultTrace, fgd_host, "fgd-host")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_ReplayDefaultTrace, best_fit, "best-fit")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_ReplayDefaultTrace, random, "random")->Unit(benchmark::kMillisecond);

// F_n of an 8-GPU node with mixed free milli for the default trace's full mix.
void BM_FragmentationEvaluate(benchmark::State& state) {
  const DefaultTrace* trace = Load();
  if (trace == nullptr) {
    state.SkipWithError(("the openb trace is not at " + OpenbDirectory()).c_str());
    return;
  }
  const FragmentationMeasure measure(trace->mix);
  const std::array<int32_t, 8> free = {1000, 190, 530, 0, 1000, 80, 1000, 350};
  const NodeResources node{*trace->cluster.models().Find("G2"), 40000, 200000, free};
  for (auto _ : state) benchmark::DoNotOptimize(measure.Evaluate(node));
}
BENCHMARK(BM_FragmentationEvaluate);

}  // namespace
}  // namespace gpuslice::replay::bench

BENCHMARK_MAIN();
