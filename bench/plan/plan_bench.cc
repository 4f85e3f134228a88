// Speed and memory of `gpuslice plan`: 10,000 pods over the whole built-in catalog (goal: the
// whole plan within 1 s) and the integer program on 200 pods (goal: within 10 s). Each run
// reports the process's peak resident memory.
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <random>
#include <string>

#include "kube/manifest.h"
#include "plan/planner.h"

namespace gpuslice::plan {
namespace {

// One NodePool over every instance type of the catalog, tainted like GPU NodePools.
constexpr const char* kWholeCatalogPool = R"(apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: gpu}
spec:
  template:
    spec:
      requirements: []
      taints: [{key: nvidia.com/gpu, value: "true", effect: NoSchedule}]
---
)";

// `deployments` Deployments of `pods / deployments` replicas each, of mixed shapes: 1-4 CPUs,
// 2-32 GiB memory, one GPU (two for every fifth), 2-20 GiB of stated GPU memory.
std::string Workloads(int pods, int deployments, uint64_t seed) {
  std::mt19937_64 rng(seed);
  const auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  std::string yaml = kWholeCatalogPool;
  for (int d = 0; d < deployments; ++d) {
    const int replicas = pods / deployments + (d < pods % deployments ? 1 : 0);
    yaml += "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: svc-" + std::to_string(d) +
            "}\nspec:\n  replicas: " + std::to_string(replicas) +
            "\n  template:\n    metadata: {annotations: {gpuslice.io/gpu-memory: " +
            std::to_string(pick(2, 20)) + "Gi}}\n    spec:\n" +
            "      tolerations: [{key: nvidia.com/gpu, operator: Exists}]\n"
            "      containers:\n      - name: server\n        resources:\n"
            "          requests: {cpu: \"" +
            std::to_string(pick(1, 4)) + "\", memory: " + std::to_string(pick(1, 16) * 2) +
            "Gi}\n          limits: {nvidia.com/gpu: " + (d % 5 == 4 ? "2" : "1") + "}\n---\n";
  }
  return yaml;
}

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
  const std::string yaml = Workloads(10000, 40, 1);
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
  if (!kube::ParseManifests(Workloads(200, 10, 2), "bench.yaml", &manifests).ok()) {
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
