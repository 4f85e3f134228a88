#include "plan/planner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/config.h"
#include "plan/fixtures.h"
#include "plan/render.h"

namespace gpuslice::plan {
namespace {

using ::testing::Contains;
using testing::Deployment;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::NodePool;
using testing::Parse;
using testing::Workload;

SlicingProfile Slices(const std::string& spec) {
  Result<SlicingProfile> profile =
      SlicingProfile::FromSliceCounts(spec, BuiltinCatalog(), std::string(kSliceResource), 0);
  EXPECT_TRUE(profile.ok()) << profile.status().ToString();
  return *profile;
}

Plan MakePlanOrDie(const kube::Manifests& manifests, std::optional<SlicingProfile> profile,
                   bool optimize = true) {
  PlanOptions options;
  options.catalog = &BuiltinCatalog();
  options.profile = std::move(profile);
  options.optimize = optimize;
  Result<Plan> plan = MakePlan(manifests, options);
  EXPECT_TRUE(plan.ok()) << plan.status().ToString();
  return plan.ok() ? *std::move(plan) : Plan();
}

std::vector<std::string> Nodes(const Scenario& s) {
  std::vector<std::string> out;
  for (const NodeGroup& g : s.nodes) {
    out.push_back(g.node_pool + "/" + g.instance_type + " x" +
                  std::to_string(static_cast<int>(g.count)));
  }
  return out;
}

// 12 one-GPU pods on the seed's p3 pool: whole GPUs need 12 V100s; with 4 slices per V100 the
// pods need 3 V100s. Karpenter keeps every type that fits and launches the cheapest, so it
// packs all twelve slices on one p3.8xlarge (4 V100s); the optimum takes three p3.2xlarge.
TEST(MakePlan, TwelveOneGpuPodsOnP3NeedTwelveWholeV100sOrThreeSliced) {
  const Plan plan =
      MakePlanOrDie(Parse(NodePool("gpu", "p3") + Deployment({.name = "infer", .replicas = 12})),
                    Slices("v100=4"));
  ASSERT_EQ(plan.scenarios.size(), 3u);
  const Scenario& whole = plan.scenarios[0];
  EXPECT_EQ(whole.name, "whole");
  EXPECT_EQ(whole.gpus, 12);
  EXPECT_THAT(Nodes(whole), ElementsAre("gpu/p3.8xlarge x1", "gpu/p3.16xlarge x1"));
  EXPECT_NEAR(whole.cost_per_hour, 24.48 + 12.24, 1e-9);
  EXPECT_EQ(whole.pods_placed, 12u);

  const Scenario& sliced = plan.scenarios[1];
  EXPECT_EQ(sliced.name, "sliced");
  EXPECT_EQ(sliced.gpus, 4);
  EXPECT_THAT(Nodes(sliced), ElementsAre("gpu/p3.8xlarge x1"));
  EXPECT_NEAR(sliced.cost_per_hour, 12.24, 1e-9);

  const Scenario& optimal = plan.scenarios[2];
  EXPECT_EQ(optimal.name, "optimal");
  EXPECT_EQ(optimal.gpus, 3);
  EXPECT_THAT(Nodes(optimal), ElementsAre("gpu/p3.2xlarge x3"));
  EXPECT_NEAR(optimal.cost_per_hour, 3 * 3.06, 1e-9);
  EXPECT_TRUE(optimal.proven_optimal);
  EXPECT_FALSE(optimal.lower_bound_only);
  EXPECT_EQ(plan.slice_resource, "gpuslice.io/slice");

  // Each pod gets a quarter of a 16 GiB V100; whole, each gets all of it.
  EXPECT_DOUBLE_EQ(whole.gpu_memory_requested, 12.0 * (16ull << 30));
  EXPECT_DOUBLE_EQ(sliced.gpu_memory_requested, 12.0 * (4ull << 30));
  EXPECT_DOUBLE_EQ(sliced.gpu_memory_provisioned, 4.0 * (16ull << 30));
}

TEST(MakePlan, PodWithoutTheGpuTolerationIsUnschedulableWithTheReason) {
  const Plan plan = MakePlanOrDie(
      Parse(NodePool("gpu", "p3") + Deployment({.name = "untolerated", .tolerate = false})),
      Slices("4"));
  for (const Scenario& s : plan.scenarios) {
    ASSERT_EQ(s.unschedulable.size(), 1u) << s.name;
    EXPECT_EQ(s.unschedulable[0].pod, "default/untolerated-0");
    EXPECT_EQ(s.pods_placed, 0u);
  }
  EXPECT_THAT(
      plan.scenarios[0].unschedulable[0].reason,
      HasSubstr("nodepool gpu: the pod does not tolerate taint nvidia.com/gpu=true:NoSchedule"));
}

// Karpenter charges a new NodeClaim the largest capacity it could launch: with 8 GPUs allowed
// the first claim may become a p3.16xlarge, so no second claim is possible.
TEST(MakePlan, NodePoolLimitsStopProvisioningAsKarpenterDoes) {
  const Plan plan = MakePlanOrDie(Parse(NodePool("gpu", "p3", "", "{nvidia.com/gpu: 8}") +
                                        Deployment({.name = "infer", .replicas = 12})),
                                  Slices("1"), /*optimize=*/false);
  const Scenario& whole = plan.scenarios[0];
  EXPECT_EQ(whole.gpus, 8);
  ASSERT_EQ(whole.unschedulable.size(), 4u);
  EXPECT_THAT(whole.unschedulable[0].reason,
              HasSubstr("every instance type would exceed its limits"));
}

TEST(MakePlan, OptimumPlacesWhatLimitsAllowAndReportsTheRest) {
  const Plan plan = MakePlanOrDie(Parse(NodePool("gpu", "p3", "", "{nvidia.com/gpu: 2}") +
                                        Deployment({.name = "infer", .replicas = 3, .gpus = 1})),
                                  Slices("1"));
  const Scenario& optimal = plan.scenarios[2];
  EXPECT_EQ(optimal.gpus, 2);
  EXPECT_EQ(optimal.pods_placed, 2u);
  ASSERT_EQ(optimal.unschedulable.size(), 1u);
  EXPECT_THAT(optimal.unschedulable[0].reason, HasSubstr("limits"));
}

TEST(MakePlan, HigherWeightNodePoolIsTriedFirst) {
  const std::string pools =
      NodePool("a-expensive", "p3", "  weight: 50\n") + NodePool("b-cheap", "g4dn");
  const Plan plan = MakePlanOrDie(Parse(pools + Deployment({.name = "w"})), Slices("1"));
  EXPECT_THAT(Nodes(plan.scenarios[0]), ElementsAre("a-expensive/p3.2xlarge x1"));
  // The optimum only cares about price.
  EXPECT_THAT(Nodes(plan.scenarios[2]), ElementsAre("b-cheap/g4dn.xlarge x1"));
}

// Karpenter (nodepoolutils.OrderByWeight) tries NodePools of equal weight by name, descending.
TEST(MakePlan, NodePoolsOfEqualWeightAreTriedByNameDescending) {
  const std::string pools = NodePool("a-cheap", "g4dn") + NodePool("b-expensive", "p3");
  const Plan plan = MakePlanOrDie(Parse(pools + Deployment({.name = "w"})), Slices("1"));
  EXPECT_THAT(Nodes(plan.scenarios[0]), ElementsAre("b-expensive/p3.2xlarge x1"));
}

// Karpenter treats a pod's heaviest preferred node-affinity term as required until the pod
// fits nowhere with it: preferring L4s launches a g6 though a g4dn is cheaper.
TEST(MakePlan, PreferredNodeAffinityIsHonouredWhileItCanBe) {
  const auto pod = [](const std::string& family) {
    return "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n"
           "  tolerations: [{key: nvidia.com/gpu, operator: Exists}]\n"
           "  affinity:\n    nodeAffinity:\n      "
           "preferredDuringSchedulingIgnoredDuringExecution:\n"
           "      - {weight: 10, preference: {matchExpressions: [{key: "
           "karpenter.k8s.aws/instance-family, operator: In, values: [g5]}]}}\n"
           "      - {weight: 50, preference: {matchExpressions: [{key: "
           "karpenter.k8s.aws/instance-family, operator: In, values: [" +
           family +
           "]}]}}\n"
           "  containers: [{name: c, resources: {limits: {nvidia.com/gpu: 1}}}]\n---\n";
  };
  const std::string pool = NodePool("gpu", "g4dn, g5, g6");
  EXPECT_THAT(Nodes(MakePlanOrDie(Parse(pool + pod("g6")), Slices("1")).scenarios[0]),
              ElementsAre("gpu/g6.xlarge x1"));
  // A preference no instance type meets is dropped for the next one, then for none.
  EXPECT_THAT(Nodes(MakePlanOrDie(Parse(pool + pod("p3")), Slices("1")).scenarios[0]),
              ElementsAre("gpu/g5.xlarge x1"));
  EXPECT_THAT(
      Nodes(MakePlanOrDie(Parse(NodePool("gpu", "g4dn") + pod("p3")), Slices("1")).scenarios[0]),
      ElementsAre("gpu/g4dn.xlarge x1"));
}

// Karpenter sorts its NodeClaims by pod count before each pod, keeping the order of claims with
// as many pods: the later claim, which caught up from behind, gets the next pod.
TEST(MakePlan, EquallyLoadedNodeClaimsKeepTheOrderKarpenterSortedThemIn) {
  const Plan plan = MakePlanOrDie(
      Parse(NodePool("gpu", "g5") +
            Deployment({.name = "big", .replicas = 7, .cpu = "30", .memory = "16Gi"}) +
            Deployment({.name = "wide", .replicas = 6, .cpu = "100m", .memory = "60Gi"})),
      Slices("4"), /*optimize=*/false);
  // The first claim takes six 30-CPU pods (a g5.48xlarge), the second the seventh; the 60 GiB
  // pods go to the second until both hold six, and the last one too: 376 GiB, a g5.48xlarge.
  EXPECT_THAT(Nodes(plan.scenarios[1]), ElementsAre("gpu/g5.48xlarge x2"));
}

// A DaemonSet selecting T4 nodes takes room on g4dn nodes only.
TEST(MakePlan, DaemonSetOverheadCountsOnTheInstanceTypesItSelects) {
  const std::string daemon_set = R"(apiVersion: apps/v1
kind: DaemonSet
metadata: {name: t4-agent}
spec:
  template:
    spec:
      nodeSelector: {karpenter.k8s.aws/instance-gpu-name: t4}
      tolerations: [{operator: Exists}]
      containers: [{name: a, resources: {requests: {cpu: "3"}}}]
---
)";
  const std::string pool = NodePool("gpu", "g4dn, g5");
  const Plan t4 = MakePlanOrDie(
      Parse(pool + daemon_set +
            Deployment({.name = "w",
                        .cpu = "1",
                        .node_selector = "{karpenter.k8s.aws/instance-gpu-name: t4}"})),
      Slices("1"));
  EXPECT_THAT(Nodes(t4.scenarios[0]), ElementsAre("gpu/g4dn.2xlarge x1"));
  const Plan a10g = MakePlanOrDie(
      Parse(pool + daemon_set +
            Deployment({.name = "w",
                        .cpu = "1",
                        .node_selector = "{karpenter.k8s.aws/instance-gpu-name: a10g}"})),
      Slices("1"));
  EXPECT_THAT(Nodes(a10g.scenarios[0]), ElementsAre("gpu/g5.xlarge x1"));
}

// Karpenter expects DaemonSet pods on a node whatever its PreferNoSchedule taints.
TEST(MakePlan, DaemonSetNeedNotToleratePreferNoScheduleTaints) {
  const std::string pool =
      "apiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata: {name: gpu}\nspec:\n  template:\n"
      "    spec:\n      requirements: [{key: karpenter.k8s.aws/instance-family, operator: In, "
      "values: [g4dn]}]\n      taints: [{key: spare, value: \"yes\", effect: PreferNoSchedule}]\n"
      "---\n";
  const std::string daemon_set = R"(apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  template:
    spec:
      containers: [{name: a, resources: {requests: {cpu: "3"}}}]
---
)";
  const Plan plan = MakePlanOrDie(
      Parse(pool + daemon_set + Deployment({.name = "w", .cpu = "1", .tolerate = false})),
      Slices("1"));
  EXPECT_THAT(Nodes(plan.scenarios[0]), ElementsAre("gpu/g4dn.2xlarge x1"));
}

// NodePool limits count memory as Karpenter's capacity: the instance's less the VM overhead
// (a g4dn.xlarge's 16384 MiB count as 15155 MiB).
TEST(MakePlan, MemoryLimitsCountTheCapacityKarpenterModels) {
  const Plan plan = MakePlanOrDie(
      Parse(NodePool("gpu", "g4dn", "", "{memory: 15500Mi}") + Deployment({.name = "w"})),
      Slices("1"), /*optimize=*/false);
  EXPECT_THAT(Nodes(plan.scenarios[0]), ElementsAre("gpu/g4dn.xlarge x1"));
  EXPECT_TRUE(plan.scenarios[0].unschedulable.empty());
}

TEST(MakePlan, DaemonSetOverheadLeavesLessRoomForPods) {
  const std::string daemon_set = R"(apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  template:
    spec:
      tolerations: [{operator: Exists}]
      containers: [{name: a, resources: {requests: {cpu: "3"}}}]
---
)";
  const Plan with = MakePlanOrDie(
      Parse(NodePool("gpu", "g4dn") + daemon_set + Deployment({.name = "w", .cpu = "1"})),
      Slices("1"));
  EXPECT_THAT(Nodes(with.scenarios[0]), ElementsAre("gpu/g4dn.2xlarge x1"));
  const Plan without = MakePlanOrDie(
      Parse(NodePool("gpu", "g4dn") + Deployment({.name = "w", .cpu = "1"})), Slices("1"));
  EXPECT_THAT(Nodes(without.scenarios[0]), ElementsAre("gpu/g4dn.xlarge x1"));
}

TEST(MakePlan, NodeSelectorNarrowsInstanceTypes) {
  const std::string all = "g4dn, g5, g6, p3";
  const Plan plan = MakePlanOrDie(
      Parse(NodePool("gpu", all) +
            Deployment(
                {.name = "w", .node_selector = "{karpenter.k8s.aws/instance-gpu-name: a10g}"})),
      Slices("1"));
  EXPECT_THAT(Nodes(plan.scenarios[0]), ElementsAre("gpu/g5.xlarge x1"));
  EXPECT_THAT(Nodes(plan.scenarios[2]), ElementsAre("gpu/g5.xlarge x1"));
}

TEST(MakePlan, SliceMemoryProfileAsksStatedMemoryInSlices) {
  Result<SlicingProfile> profile =
      SlicingProfile::FromSliceMemory(uint64_t{4} << 30, std::string(kSliceResource), 0);
  ASSERT_TRUE(profile.ok());
  // A V100 of 16 GiB holds four 4 GiB slices; pods stating 6Gi need two of them.
  const Plan plan = MakePlanOrDie(
      Parse(NodePool("gpu", "p3") + Deployment({.name = "w", .replicas = 4, .gpu_memory = "6Gi"})),
      *profile);
  EXPECT_EQ(plan.scenarios[2].gpus, 2);
  EXPECT_DOUBLE_EQ(plan.scenarios[2].gpu_memory_requested, 4.0 * (6ull << 30));
  EXPECT_DOUBLE_EQ(plan.scenarios[0].gpu_memory_requested, 4.0 * (6ull << 30));
}

TEST(MakePlan, RefusesInputWithoutNodePool) {
  PlanOptions options;
  options.catalog = &BuiltinCatalog();
  Result<Plan> plan = MakePlan(Parse(Deployment({.name = "w"})), options);
  EXPECT_EQ(plan.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(plan.status().message(), HasSubstr("no Karpenter NodePool"));
}

// `gpuslice render` writes NodePools, NodeOverlays and Helm values; planning with them gives
// what planning with the profile gives, for slice counts and for a slice-memory target.
TEST(MakePlan, ReadsRenderOutputBackToTheSameAnswer) {
  const std::string workloads =
      Deployment({.name = "a", .replicas = 7, .cpu = "2", .memory = "8Gi", .gpu_memory = "6Gi"}) +
      Deployment({.name = "b", .replicas = 3, .gpus = 2});
  const kube::Manifests input = Parse(NodePool("gpu", "p3, g5") + workloads);
  Result<SlicingProfile> by_memory =
      SlicingProfile::FromSliceMemory(uint64_t{5} << 30, std::string(kSliceResource), 0);
  ASSERT_TRUE(by_memory.ok());
  for (const SlicingProfile& profile : {Slices("v100=4,a10g=2"), *by_memory}) {
    SCOPED_TRACE(profile.description());
    const Plan direct = MakePlanOrDie(input, profile);
    Result<Rendering> rendering = Render(input.node_pools, BuiltinCatalog(), profile);
    ASSERT_TRUE(rendering.ok()) << rendering.status().ToString();
    const kube::Manifests rendered =
        Parse(rendering->node_pools_yaml + rendering->node_overlays_yaml + "---\n" + workloads);
    Result<core::Config> config = ReadPluginConfig(rendering->values_yaml, "values.yaml");
    ASSERT_TRUE(config.ok()) << config.status().ToString();
    const Plan reread = MakePlanOrDie(rendered, SlicingProfile::FromConfig(*config, "values.yaml"));
    EXPECT_THAT(reread.warnings, ::testing::IsEmpty());
    ASSERT_EQ(reread.scenarios.size(), direct.scenarios.size());
    for (size_t i = 0; i < direct.scenarios.size(); ++i) {
      SCOPED_TRACE(direct.scenarios[i].name);
      EXPECT_EQ(Nodes(reread.scenarios[i]), Nodes(direct.scenarios[i]));
      EXPECT_NEAR(reread.scenarios[i].cost_per_hour, direct.scenarios[i].cost_per_hour, 1e-9);
      EXPECT_DOUBLE_EQ(reread.scenarios[i].gpu_memory_requested,
                       direct.scenarios[i].gpu_memory_requested);
    }
  }
}

TEST(MakePlan, WarnsWhenOverlaysAndPluginConfigDisagree) {
  const kube::Manifests input = Parse(NodePool("gpu", "p3") + Deployment({.name = "w"}));
  Result<Rendering> rendering = Render(input.node_pools, BuiltinCatalog(), Slices("v100=4"));
  ASSERT_TRUE(rendering.ok());
  const kube::Manifests rendered =
      Parse(rendering->node_pools_yaml + rendering->node_overlays_yaml + "---\n" +
            Deployment({.name = "w"}));
  const Plan plan = MakePlanOrDie(rendered, Slices("v100=2"));
  EXPECT_THAT(plan.warnings,
              Contains(HasSubstr("NodePool gpu, p3.8xlarge: the NodeOverlays declare 16 "
                                 "gpuslice.io/slice but the device plugin config advertises 8")));
}

// Tensor-parallel pods with the plugin's distinctGpus: two slices on two GPUs, so a node with
// one GPU can never hold such a pod, however many slices it has free.
TEST(MakePlan, DistinctGpuSlicesNeedAsManyGpusPerNode) {
  const kube::Manifests input =
      Parse(NodePool("gpu", "p3") + Deployment({.name = "tp", .replicas = 2, .gpus = 2}));
  Result<core::Config> config = core::ParseConfig(
      "version: v1\ndefaultProfile: {slices: 4, resourceName: gpuslice.io/slice}\n", "c.yaml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  const Plan shared = MakePlanOrDie(input, SlicingProfile::FromConfig(*config, "shared"));
  ASSERT_EQ(shared.scenarios.size(), 3u);
  EXPECT_THAT(Nodes(shared.scenarios[2]), ElementsAre("gpu/p3.2xlarge x1"));

  config->default_profile.distinct_gpus = true;
  const Plan distinct = MakePlanOrDie(input, SlicingProfile::FromConfig(*config, "distinct"));
  ASSERT_EQ(distinct.scenarios.size(), 3u);
  for (size_t i = 1; i < 3; ++i) {
    SCOPED_TRACE(distinct.scenarios[i].name);
    EXPECT_THAT(Nodes(distinct.scenarios[i]), ElementsAre("gpu/p3.8xlarge x1"));
    EXPECT_EQ(distinct.scenarios[i].pods_placed, 2u);
  }
  // One-slice pods are not constrained.
  const Plan single = MakePlanOrDie(Parse(NodePool("gpu", "p3") + Deployment({.name = "one"})),
                                    SlicingProfile::FromConfig(*config, "distinct"));
  EXPECT_THAT(Nodes(single.scenarios[2]), ElementsAre("gpu/p3.2xlarge x1"));
}

}  // namespace
}  // namespace gpuslice::plan
