#include "kube/writer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "kube/manifest.h"

namespace gpuslice::kube {
namespace {

using ::testing::HasSubstr;

constexpr std::string_view kSeedNodePool = R"(apiVersion: karpenter.sh/v1
kind: NodePool
metadata:
  name: gpu
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}
      requirements:
      - key: karpenter.k8s.aws/instance-family
        operator: In
        values: [p3]
)";

NodePool ReadPool(std::string_view text) {
  Manifests m;
  Status status = ParseManifests(text, "pool.yaml", &m);
  EXPECT_TRUE(status.ok()) << status.ToString();
  return m.node_pools.at(0);
}

TEST(NodePoolYamlWithTaint, AddsTheTaintAndKeepsEveryOtherField) {
  const Taint gpu{"nvidia.com/gpu", "true", TaintEffect::kNoSchedule};
  Result<std::string> yaml = NodePoolYamlWithTaint(ReadPool(kSeedNodePool), gpu);
  ASSERT_TRUE(yaml.ok()) << yaml.status().ToString();
  EXPECT_THAT(*yaml, HasSubstr("EC2NodeClass"));
  const NodePool reread = ReadPool(*yaml);
  ASSERT_EQ(reread.taints.size(), 1u);
  EXPECT_EQ(reread.taints[0].key, "nvidia.com/gpu");
  EXPECT_EQ(reread.taints[0].value, "true");
  EXPECT_EQ(reread.requirements.size(), 1u);
  // "true" must stay a string: Kubernetes refuses a boolean taint value.
  EXPECT_THAT(*yaml, HasSubstr("value: \"true\""));
}

TEST(NodePoolYamlWithTaint, KeepsAnExistingTaintWithTheSameKeyAndEffect) {
  const Taint gpu{"nvidia.com/gpu", "", TaintEffect::kNoSchedule};
  const std::string tainted = std::string(kSeedNodePool) +
                              "      taints: [{key: nvidia.com/gpu, value: \"1\", effect: "
                              "NoSchedule}]\n";
  Result<std::string> yaml = NodePoolYamlWithTaint(ReadPool(tainted), gpu);
  ASSERT_TRUE(yaml.ok());
  const NodePool reread = ReadPool(*yaml);
  ASSERT_EQ(reread.taints.size(), 1u);
  EXPECT_EQ(reread.taints[0].value, "1");
  EXPECT_THAT(*yaml, HasSubstr("value: \"1\""));
}

TEST(NodeOverlayYaml, RoundTripsThroughTheReader) {
  NodeOverlay overlay;
  overlay.name = "gpuslice-gpu-16";
  overlay.labels = {{"app.kubernetes.io/managed-by", "gpuslice"}};
  overlay.weight = 50;
  overlay.requirements = {
      {"karpenter.sh/nodepool", SelectorOperator::kIn, {"gpu"}, std::nullopt},
      {"node.kubernetes.io/instance-type", SelectorOperator::kIn, {"p3.8xlarge"}, std::nullopt}};
  overlay.capacity.emplace("gpuslice.io/slice", *core::Quantity::Parse("16"));
  Manifests m;
  Status status = ParseManifests(NodeOverlayYaml(overlay), "overlay.yaml", &m);
  ASSERT_TRUE(status.ok()) << status.ToString();
  ASSERT_EQ(m.node_overlays.size(), 1u);
  const NodeOverlay& reread = m.node_overlays[0];
  EXPECT_EQ(reread.name, overlay.name);
  EXPECT_EQ(reread.labels, overlay.labels);
  EXPECT_EQ(reread.weight, 50);
  ASSERT_EQ(reread.requirements.size(), 2u);
  EXPECT_EQ(reread.requirements[1].values, std::vector<std::string>{"p3.8xlarge"});
  EXPECT_EQ(reread.capacity.at("gpuslice.io/slice").text(), "16");
}

}  // namespace
}  // namespace gpuslice::kube
