// Pods with gpu.gpuslice.io claims on the simulated node: booked by memory and compute as
// kube-scheduler books consumable capacity, prepared by the DRA driver's own code.
#include "nodesim/dra_node.h"

#include <gtest/gtest.h>

#include "nodesim/node_sim_fixture.h"

namespace gpuslice::nodesim {
namespace {

std::string DraPod(const std::string& name, const std::string& capacity) {
  return "apiVersion: resource.k8s.io/v1\nkind: ResourceClaimTemplate\nmetadata: {name: " + name +
         "}\nspec:\n  spec:\n    devices:\n      requests:\n      - name: gpu\n        exactly: "
         "{deviceClassName: gpu.gpuslice.io, capacity: {requests: {" + capacity +
         "}}}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: " + name +
         "}\nspec:\n  resourceClaims: [{name: gpu, resourceClaimTemplateName: " + name +
         "}]\n  containers: [{name: app, resources: {claims: [{name: gpu}]}}, {name: side}]\n---\n";
}

// Claims sized in memory on one simulated A10G (23,028 MiB): placed by consumable capacity,
// limits from the DRA driver's own prepare.
TEST_F(NodeSimTest, DraClaimsArePlacedByMemoryAndGetTheirShareAsLimits) {
  auto node = Start("version: v1\n", "1xA10G");
  if (node == nullptr) GTEST_SKIP() << "simulated NVML or libgpuslice.so not built in " << kLibDir;
  const kube::Manifests manifests =
      Pods(DraPod("six", "memory: 6Gi, compute: \"30\"") + DraPod("ten", "memory: 10Gi") +
           DraPod("four", "memory: 4Gi, compute: \"70\"") + DraPod("five", "memory: 5Gi") +
           DraPod("one", "memory: 1Gi, compute: \"1\""));
  NodeSimReport report = node->Run(manifests);
  ASSERT_EQ(report.placements.size(), 3u);
  EXPECT_EQ(report.placements[0].pod, "default/six");
  EXPECT_EQ(report.placements[0].container, "app");
  EXPECT_EQ(report.placements[0].resource, "gpu.gpuslice.io");
  ASSERT_EQ(report.placements[0].gpus.size(), 1u);
  EXPECT_EQ(report.placements[0].gpus[0].memory_limit_bytes, 6 * 1024 * kMiB);
  EXPECT_EQ(report.placements[0].gpus[0].compute_percent, 30);
  EXPECT_EQ(report.placements[1].gpus[0].memory_limit_bytes, 10 * 1024 * kMiB);
  EXPECT_EQ(report.placements[1].gpus[0].compute_percent, 100);  // named none: not throttled
  EXPECT_EQ(report.placements[2].gpus[0].compute_percent, 70);
  // 20 GiB of 22.5 are booked: 5 GiB do not fit; 30 + 70 percent are: one more percent does not.
  ASSERT_EQ(report.unplaced.size(), 2u);
  EXPECT_EQ(report.unplaced[0].pod, "default/five");
  EXPECT_NE(report.unplaced[0].reason.find("cannot allocate all claims"), std::string::npos)
      << report.unplaced[0].reason;
  EXPECT_EQ(report.unplaced[1].pod, "default/one");
}

}  // namespace
}  // namespace gpuslice::nodesim
