#include "kube/scheduling.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "kube/manifest.h"

namespace gpuslice::kube {
namespace {

using ::testing::Pair;
using ::testing::UnorderedElementsAre;

core::Quantity Q(const char* text) { return *core::Quantity::Parse(text); }

Container MakeContainer(std::string name, ResourceList requests, bool sidecar = false) {
  Container c;
  c.name = std::move(name);
  c.requests = std::move(requests);
  c.sidecar = sidecar;
  return c;
}

TEST(ScaledAmount, UsesMillicoresForCpuAndUnitsOtherwise) {
  EXPECT_EQ(*ScaledAmount("cpu", Q("500m")), 500);
  EXPECT_EQ(*ScaledAmount("cpu", Q("0.5")), 500);
  EXPECT_EQ(*ScaledAmount("cpu", Q("2")), 2000);
  EXPECT_EQ(*ScaledAmount("memory", Q("1Gi")), 1073741824);
  EXPECT_EQ(*ScaledAmount("memory", Q("1e3")), 1000);
  EXPECT_EQ(*ScaledAmount("memory", Q("0.5")), 1);  // rounds up, like Quantity.Value()
  EXPECT_EQ(*ScaledAmount("nvidia.com/gpu", Q("4")), 4);
}

TEST(FormatAmount, WritesAmountsAsManifestsDo) {
  EXPECT_EQ(FormatAmount("cpu", 1500), "1500m");
  EXPECT_EQ(FormatAmount("cpu", 2000), "2");
  EXPECT_EQ(FormatAmount("memory", int64_t{10} << 30), "10Gi");
  EXPECT_EQ(FormatAmount("nvidia.com/gpu", 3), "3");
}

Taint MakeTaint(std::string key, std::string value, TaintEffect effect) {
  return Taint{std::move(key), std::move(value), effect};
}

TEST(Tolerates, FollowsKubernetesMatchingRules) {
  const Taint gpu = MakeTaint("nvidia.com/gpu", "true", TaintEffect::kNoSchedule);
  Toleration exists{"nvidia.com/gpu", Toleration::Operator::kExists, "", TaintEffect::kNoSchedule};
  EXPECT_TRUE(Tolerates(exists, gpu));
  Toleration equal{"nvidia.com/gpu", Toleration::Operator::kEqual, "true", std::nullopt};
  EXPECT_TRUE(Tolerates(equal, gpu));
  Toleration wrong_value{"nvidia.com/gpu", Toleration::Operator::kEqual, "false", std::nullopt};
  EXPECT_FALSE(Tolerates(wrong_value, gpu));
  Toleration wrong_effect{"nvidia.com/gpu", Toleration::Operator::kExists, "",
                          TaintEffect::kNoExecute};
  EXPECT_FALSE(Tolerates(wrong_effect, gpu));
  Toleration wrong_key{"example.com/gpu", Toleration::Operator::kExists, "", std::nullopt};
  EXPECT_FALSE(Tolerates(wrong_key, gpu));
  Toleration everything{"", Toleration::Operator::kExists, "", std::nullopt};
  EXPECT_TRUE(Tolerates(everything, gpu));
  EXPECT_TRUE(Tolerates(everything, MakeTaint("any", "", TaintEffect::kNoExecute)));
}

TEST(FirstUntoleratedTaint, NamesTheBlockingTaintAndTreatsPreferNoScheduleAsSoft) {
  const std::vector<Taint> taints = {MakeTaint("nvidia.com/gpu", "true", TaintEffect::kNoSchedule),
                                     MakeTaint("spot", "", TaintEffect::kPreferNoSchedule)};
  const std::vector<Toleration> gpu_only = {
      {"nvidia.com/gpu", Toleration::Operator::kExists, "", TaintEffect::kNoSchedule}};
  EXPECT_EQ(FirstUntoleratedTaint({}, taints, true), &taints[0]);
  EXPECT_EQ(FirstUntoleratedTaint(gpu_only, taints, true), &taints[1]);
  EXPECT_EQ(FirstUntoleratedTaint(gpu_only, taints, false), nullptr);
}

TEST(PodRequests, SumsAppContainersAndTakesTheLargerInitContainer) {
  PodSpec spec;
  spec.containers = {MakeContainer("a", {{"cpu", Q("500m")}, {"nvidia.com/gpu", Q("1")}}),
                     MakeContainer("b", {{"cpu", Q("250m")}, {"memory", Q("1Gi")}})};
  spec.init_containers = {MakeContainer("init", {{"cpu", Q("2")}, {"memory", Q("512Mi")}})};
  Result<ResourceAmounts> requests = PodRequests(spec);
  ASSERT_TRUE(requests.ok());
  EXPECT_THAT(*requests, UnorderedElementsAre(Pair("cpu", 2000), Pair("memory", 1073741824),
                                              Pair("nvidia.com/gpu", 1)));
}

// Kubernetes' own example (KEP-753): sidecars add to the app containers and run next to later
// init containers.
TEST(PodRequests, CountsSidecarsWithAppsAndLaterInitContainers) {
  PodSpec spec;
  spec.init_containers = {MakeContainer("sidecar", {{"cpu", Q("1")}}, true),
                          MakeContainer("migrate", {{"cpu", Q("3")}})};
  spec.containers = {MakeContainer("app", {{"cpu", Q("1")}})};
  spec.overhead = {{"cpu", Q("100m")}};
  Result<ResourceAmounts> requests = PodRequests(spec);
  ASSERT_TRUE(requests.ok());
  // max(sidecar + app = 2, sidecar + migrate = 4) + overhead.
  EXPECT_THAT(*requests, UnorderedElementsAre(Pair("cpu", 4100)));
}

TEST(PodRequests, ReportsOverflowInsteadOfWrapping) {
  PodSpec spec;
  spec.containers = {MakeContainer("a", {{"memory", Q("7Ei")}}),
                     MakeContainer("b", {{"memory", Q("7Ei")}})};
  EXPECT_FALSE(PodRequests(spec).ok());
}

TEST(PodRequests, ComputesFromParsedManifests) {
  Manifests m;
  ASSERT_TRUE(ParseManifests(R"(
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  initContainers:
  - {name: init, resources: {limits: {nvidia.com/gpu: 2, memory: 2Gi}}}
  containers:
  - {name: a, resources: {limits: {nvidia.com/gpu: 1}, requests: {memory: 1Gi, cpu: 0.5}}}
)",
                             "p.yaml", &m)
                  .ok());
  Result<ResourceAmounts> requests = PodRequests(m.pods[0].spec());
  ASSERT_TRUE(requests.ok());
  EXPECT_THAT(*requests, UnorderedElementsAre(Pair("cpu", 500), Pair("memory", 2147483648),
                                              Pair("nvidia.com/gpu", 2)));
}

}  // namespace
}  // namespace gpuslice::kube
