// gpuslice-plan-bench-manifests: writes the plan benchmark's 10,000-pod mix (the NodePool and
// its Deployments) to stdout as YAML, for planning it with other tools:
//   gpuslice-plan-bench-manifests > mix.yaml
//   gpuslice plan mix.yaml --slice-memory 4Gi
#include <iostream>

#include "bench_workloads.h"

int main() {
  using namespace gpuslice::plan::bench;
  std::cout << Workloads(kMixPods, kMixDeployments, kMixSeed);
  return 0;
}
