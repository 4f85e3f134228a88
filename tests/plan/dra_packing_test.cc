#include "plan/dra_packing.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "plan/catalog.h"
#include "plan/fixtures.h"

namespace gpuslice::plan {
namespace {

using ::testing::HasSubstr;

constexpr uint64_t kGiB = uint64_t{1} << 30;

// `replicas` pods, each with a claim from a template asking for `memory` and `compute`.
std::string DraDeployment(const std::string& name, int replicas, const std::string& memory,
                          const std::string& compute) {
  std::string capacity = "memory: " + memory;
  if (!compute.empty()) capacity += ", compute: \"" + compute + "\"";
  return "apiVersion: resource.k8s.io/v1\nkind: ResourceClaimTemplate\nmetadata: {name: " + name +
         "}\nspec:\n  spec:\n    devices:\n      requests:\n      - name: gpu\n        exactly: "
         "{deviceClassName: gpu.gpuslice.io, capacity: {requests: {" + capacity +
         "}}}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: " + name +
         "}\nspec:\n  replicas: " + std::to_string(replicas) +
         "\n  template:\n    spec:\n      resourceClaims: [{name: gpu, resourceClaimTemplateName: " +
         name + "}]\n      containers: [{name: app, resources: {claims: [{name: gpu}]}}]\n---\n";
}

TEST(DraPacking, SharesArePackedByMemoryAndComputeOnEachGpuModel) {
  kube::Manifests manifests = testing::Parse(
      testing::NodePool("gpu", "g5, p4d") + DraDeployment("small", 5, "6Gi", "10") +
      DraDeployment("greedy", 2, "5Gi", "60") +
      testing::Deployment({.name = "cpu-only", .replicas = 2, .gpus = 0, .cpu = "1"}));
  Result<DraPlan> plan = SetAsideDraPods(&manifests, BuiltinCatalog(), core::DraConfig{});
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(plan->pods, 7u);
  EXPECT_EQ(plan->shares, 7u);
  // Only the pods without DRA claims stay for Karpenter.
  ASSERT_EQ(manifests.pods.size(), 2u);
  EXPECT_EQ(manifests.pods[0].owner_name, "cpu-only");
  ASSERT_EQ(plan->packings.size(), 2u);
  const DraPacking& a10g = plan->packings[0];  // 22,888 MiB
  EXPECT_EQ(a10g.gpu_model, "a10g");
  // First fit in input order: 6+6+6 GiB (30 %), then 6+6 GiB and 5 GiB (80 %), then the second
  // 60 % share opens a third GPU: compute, not memory, decides there.
  EXPECT_EQ(a10g.gpus, 3);
  EXPECT_EQ(a10g.memory_bytes, 40 * kGiB);
  const DraPacking& a100 = plan->packings[1];  // 40 GiB
  EXPECT_EQ(a100.gpu_model, "a100");
  // All five small shares fit the first (30 GiB, 50 %); each 60 % share needs a GPU of its own.
  EXPECT_EQ(a100.gpus, 3);
  EXPECT_THAT(plan->warnings[0], HasSubstr("Karpenter cannot provision nodes for DRA claims"));
}

TEST(DraPacking, RequestsRoundUpToThePolicyAndOversizedSharesAreNamed) {
  kube::Manifests manifests = testing::Parse(
      testing::NodePool("gpu", "g5") + DraDeployment("odd", 1, "1000Mi", "") +
      DraDeployment("huge", 1, "40Gi", "") + DraDeployment("hog", 1, "1Gi", "150"));
  Result<DraPlan> plan = SetAsideDraPods(&manifests, BuiltinCatalog(), core::DraConfig{});
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  ASSERT_EQ(plan->packings.size(), 1u);
  const DraPacking& a10g = plan->packings[0];
  EXPECT_EQ(a10g.shares, 1u);
  EXPECT_EQ(a10g.memory_bytes, 1024ULL << 20);  // 1000Mi books 1Gi: 256Mi + 3 steps
  ASSERT_EQ(a10g.too_big.size(), 2u);
  EXPECT_EQ(a10g.too_big[0].pod, "default/huge-0");
  EXPECT_THAT(a10g.too_big[0].reason, HasSubstr("a a10g share holds at most"));
  EXPECT_THAT(a10g.too_big[1].reason, HasSubstr("more than 100 percent"));
}

TEST(DraPacking, AMissingTemplateIsAnErrorNamingThePod) {
  kube::Manifests manifests = testing::Parse(
      testing::NodePool("gpu", "g5") +
      "apiVersion: v1\nkind: Pod\nmetadata: {name: lost}\nspec:\n  resourceClaims: [{name: gpu, "
      "resourceClaimTemplateName: nowhere}]\n  containers: [{name: c}]\n");
  Result<DraPlan> plan = SetAsideDraPods(&manifests, BuiltinCatalog(), core::DraConfig{});
  ASSERT_FALSE(plan.ok());
  EXPECT_THAT(plan.status().message(), HasSubstr("ResourceClaimTemplate default/nowhere"));
}

TEST(DraPacking, TheProfilesReservedMemoryIsNotCapacity) {
  // Three 7 GiB shares (21 GiB) fill one 22,888 MiB A10G, but not the 20,840 MiB left of it
  // after a profile's 2 GiB reserve, which the driver leaves out of the GPU's capacity.
  const std::string input = testing::NodePool("gpu", "g5") + DraDeployment("seven", 3, "7Gi", "");
  kube::Manifests whole = testing::Parse(input);
  Result<DraPlan> unreserved = SetAsideDraPods(&whole, BuiltinCatalog(), core::DraConfig{});
  ASSERT_TRUE(unreserved.ok()) << unreserved.status().ToString();
  EXPECT_EQ(unreserved->packings[0].gpus, 1);
  EXPECT_EQ(unreserved->packings[0].reserved_memory_bytes, 0u);

  core::Config config;
  config.default_profile.reserved_memory_bytes = 2 * kGiB;
  const SlicingProfile profile = SlicingProfile::FromConfig(config, "config.yaml");
  kube::Manifests manifests = testing::Parse(input);
  Result<DraPlan> reserved =
      SetAsideDraPods(&manifests, BuiltinCatalog(), core::DraConfig{}, &profile);
  ASSERT_TRUE(reserved.ok()) << reserved.status().ToString();
  EXPECT_EQ(reserved->packings[0].reserved_memory_bytes, 2 * kGiB);
  EXPECT_EQ(reserved->packings[0].gpus, 2);
  EXPECT_EQ(reserved->packings[0].shares, 3u);
}

TEST(DraPacking, MakePlanKeepsDraPodsOutOfTheNodeCounts) {
  const kube::Manifests manifests =
      testing::Parse(testing::NodePool("gpu", "g5") + DraDeployment("inference", 4, "6Gi", "25") +
                     testing::Deployment({.name = "whole", .replicas = 1, .gpus = 1}));
  PlanOptions options;
  options.catalog = &BuiltinCatalog();
  options.optimize = false;
  Result<Plan> plan = MakePlan(manifests, options);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(plan->pods, 1u);
  ASSERT_NE(plan->dra, nullptr);
  EXPECT_EQ(plan->dra->pods, 4u);
  EXPECT_EQ(plan->dra->packings[0].gpus, 2);  // 3 x 6 GiB per 22.4 GiB A10G
  EXPECT_EQ(plan->scenarios[0].pods_placed, 1u);
}

}  // namespace
}  // namespace gpuslice::plan
