// The plan benchmark's inputs as manifests: one NodePool over every instance type of the
// catalog, tainted like GPU NodePools, and Deployments of mixed shapes. Shared by the benchmark
// and by gpuslice-plan-bench-manifests, which writes them out so other tools (the Karpenter
// oracle, docs/karpenter.md) plan exactly the same pods.
#pragma once

#include <cstdint>
#include <random>
#include <string>

namespace gpuslice::plan::bench {

inline constexpr const char* kWholeCatalogPool = R"(apiVersion: karpenter.sh/v1
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
inline std::string Workloads(int pods, int deployments, uint64_t seed) {
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

// The mixes the benchmark plans.
inline constexpr int kMixPods = 10000;
inline constexpr int kMixDeployments = 40;
inline constexpr uint64_t kMixSeed = 1;

}  // namespace gpuslice::plan::bench
