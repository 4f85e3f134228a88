// Seeded random planning inputs for checking `gpuslice plan` against Karpenter: GPU NodePools
// (families, requirement operators, taints, weights, limits, template labels), workloads (pod
// shapes, GPU counts, stated GPU memory, tolerations, node selectors, required and preferred
// node affinity), DaemonSets, the cluster's own price NodeOverlays, and the slicing profile
// `gpuslice render` writes NodeOverlays for. Every case stays inside what plan models; the same
// seed always gives the same case.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace gpuslice::plan::testing {

struct RandomCase {
  std::string node_pools_yaml;
  std::string workloads_yaml;  // Deployments, Pods, DaemonSets and price NodeOverlays
  // `gpuslice render` flags choosing the slicing profile, e.g. {"--slice-memory", "4Gi"}.
  std::vector<std::string> render_flags;
};

// `scale` multiplies every workload's replicas: at 10 a case launches tens of NodeClaims.
RandomCase GenerateRandomCase(uint64_t seed, int scale = 1);

}  // namespace gpuslice::plan::testing
