// Speed and memory of `gpuslice plan`: 10,000 pods over the whole built-in catalog (goal: the
// whole plan within 1 s) and the integer program on 200 pods (goal: within 10 s). Each run
// reports the process's peak resident memory.
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <string>

#include "bench_workloads.h"
#include "kube/manifest.h"
#include "plan/planner.h"

namespace gpuslice::plan {
namespace {

double PeakRssMiB() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // Linux reports KiB
}

void Report(benchmark::State& state, const Plan& plan) {
  state.counters["pods"] = static_cast<double>(plan.pods);
  state.counters["whole_usd_h"] = plan.scenarios[0].cost_per_hour;
  state.counters["sliced_usd_h"] = plan.scenarios[1].cost_per_hour;
  if (plan.scenarios.size() > 2) state.counters["optimal_usd_h"] = plan.scenarios[2].cost_per_hour;
  state.counters["peak_rss_MiB"] = PeakRssMiB();
}

// Reading the manifests (expanding 10,000 replicas) and planning all three scenarios; the
// optimum of this many pods is the LP bound.
void BM_Plan10kPodsWholeCatalog(benchmark::State& state) {
  const std::string yaml =
      bench::Workloads(bench::kMixPods, bench::kMixDeployments, bench::kMixSeed);
  Result<SlicingProfile> profile =
      SlicingProfile::FromSliceMemory(uint64_t{4} << 30, std::string(kSliceResource), 0);
  PlanOptions options;
  options.catalog = &BuiltinCatalog();
  options.profile = *profile;
  Plan plan;
  for (auto _ : state) {
    kube::Manifests manifests;
    Status parsed = kube::ParseManifests(yaml, "bench.yaml", &manifests);
    Result<Plan> result = MakePlan(manifests, options);
    if (!parsed.ok() || !result.ok()) {
      state.SkipWithError("plan failed");
      return;
    }
    plan = *std::move(result);
  }
  Report(state, plan);
}
BENCHMARK(BM_Plan10kPodsWholeCatalog)->Unit(benchmark::kMillisecond)->UseRealTime();

// The integer program for 200 pods of 10 shapes over the whole catalog.
void BM_Ilp200PodsWholeCatalog(benchmark::State& state) {
  kube::Manifests manifests;
  if (!kube::ParseManifests(bench::Workloads(200, 10, 2), "bench.yaml", &manifests).ok()) {
    state.SkipWithError("bad manifests");
    return;
  }
  Result<SlicingProfile> profile =
      SlicingProfile::FromSliceMemory(uint64_t{4} << 30, std::string(kSliceResource), 0);
  PlanOptions options;
  options.catalog = &BuiltinCatalog();
  options.profile = *profile;
  Plan plan;
  for (auto _ : state) {
    Result<Plan> result = MakePlan(manifests, options);
    if (!result.ok()) {
      state.SkipWithError(result.status().ToString().c_str());
      return;
    }
    plan = *std::move(result);
  }
  Report(state, plan);
  const Scenario& optimal = plan.scenarios[2];
  state.counters["proven"] = optimal.proven_optimal ? 1 : 0;
  state.counters["lower_bound_usd_h"] = optimal.lower_bound;
}
BENCHMARK(BM_Ilp200PodsWholeCatalog)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace gpuslice::plan

BENCHMARK_MAIN();
