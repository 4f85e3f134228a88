#include "plan/requirements.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace gpuslice::plan {
namespace {

using kube::SelectorOperator;

Requirement Make(SelectorOperator op, std::vector<std::string> values = {}) {
  return Requirement::FromSelector({"k", op, std::move(values), std::nullopt});
}

TEST(Requirement, EachOperatorAdmitsTheValuesKubernetesAdmits) {
  EXPECT_TRUE(Make(SelectorOperator::kIn, {"a", "b"}).Has("a"));
  EXPECT_FALSE(Make(SelectorOperator::kIn, {"a", "b"}).Has("c"));
  EXPECT_FALSE(Make(SelectorOperator::kNotIn, {"a"}).Has("a"));
  EXPECT_TRUE(Make(SelectorOperator::kNotIn, {"a"}).Has("b"));
  EXPECT_TRUE(Make(SelectorOperator::kExists).Has("anything"));
  EXPECT_FALSE(Make(SelectorOperator::kDoesNotExist).Has("anything"));
  EXPECT_TRUE(Make(SelectorOperator::kDoesNotExist).Empty());
  EXPECT_TRUE(Make(SelectorOperator::kGt, {"4"}).Has("5"));
  EXPECT_FALSE(Make(SelectorOperator::kGt, {"4"}).Has("4"));
  EXPECT_FALSE(Make(SelectorOperator::kGt, {"4"}).Has("many"));
  EXPECT_TRUE(Make(SelectorOperator::kLt, {"4"}).Has("3"));
  EXPECT_FALSE(Make(SelectorOperator::kLt, {"4"}).Has("4"));
  EXPECT_TRUE(Make(SelectorOperator::kGte, {"4"}).Has("4"));
  EXPECT_TRUE(Make(SelectorOperator::kLte, {"4"}).Has("4"));
  EXPECT_FALSE(Make(SelectorOperator::kLte, {"4"}).Has("5"));
}

TEST(Requirement, IntersectionCombinesSetsComplementsAndBounds) {
  const Requirement in = Make(SelectorOperator::kIn, {"1", "2", "8"});
  EXPECT_EQ(in.Intersection(Make(SelectorOperator::kNotIn, {"2"})),
            Make(SelectorOperator::kIn, {"1", "8"}));
  EXPECT_EQ(in.Intersection(Make(SelectorOperator::kGt, {"1"})),
            Make(SelectorOperator::kIn, {"2", "8"}));
  EXPECT_TRUE(in.Intersection(Make(SelectorOperator::kIn, {"3"})).Empty());
  EXPECT_TRUE(
      Make(SelectorOperator::kGt, {"5"}).Intersection(Make(SelectorOperator::kLt, {"3"})).Empty());
  EXPECT_EQ(
      Make(SelectorOperator::kNotIn, {"a"}).Intersection(Make(SelectorOperator::kNotIn, {"b"})),
      Make(SelectorOperator::kNotIn, {"a", "b"}));
  EXPECT_EQ(Make(SelectorOperator::kExists).Intersection(in), in);
}

Requirements Reqs(std::vector<kube::NodeSelectorRequirement> list) {
  return Requirements::FromSelectors(list);
}

TEST(Requirements, CompatibleFollowsKarpenterRules) {
  const Requirements pool =
      Reqs({{"karpenter.k8s.aws/instance-family", SelectorOperator::kIn, {"p3"}, {}},
            {"team", SelectorOperator::kIn, {"ml"}, {}}});
  // A well-known label the pool leaves open may be required.
  EXPECT_TRUE(
      pool.Compatible(Reqs({{"kubernetes.io/arch", SelectorOperator::kIn, {"amd64"}, {}}})).ok());
  // A custom label the pool does not set cannot be required...
  Status custom = pool.Compatible(Reqs({{"zone-type", SelectorOperator::kIn, {"fast"}, {}}}));
  EXPECT_FALSE(custom.ok());
  EXPECT_THAT(custom.message(), ::testing::HasSubstr("label zone-type is not set on the nodes"));
  // ...but may be excluded.
  EXPECT_TRUE(pool.Compatible(Reqs({{"zone-type", SelectorOperator::kDoesNotExist, {}, {}}})).ok());
  EXPECT_TRUE(pool.Compatible(Reqs({{"team", SelectorOperator::kIn, {"ml", "web"}, {}}})).ok());
  EXPECT_FALSE(pool.Compatible(Reqs({{"team", SelectorOperator::kIn, {"web"}, {}}})).ok());
  EXPECT_FALSE(
      pool.Compatible(
              Reqs({{"karpenter.k8s.aws/instance-family", SelectorOperator::kNotIn, {"p3"}, {}}}))
          .ok());
}

TEST(Requirements, IntersectsOnlyComparesSharedKeys) {
  const Requirements type =
      Requirements::FromLabels({{"node.kubernetes.io/instance-type", "p3.2xlarge"},
                                {"karpenter.k8s.aws/instance-gpu-count", "1"}});
  EXPECT_TRUE(type.Intersects(
      Reqs({{"karpenter.k8s.aws/instance-gpu-count", SelectorOperator::kLt, {"2"}, {}},
            {"unrelated", SelectorOperator::kIn, {"x"}, {}}})));
  EXPECT_FALSE(type.Intersects(
      Reqs({{"karpenter.k8s.aws/instance-gpu-count", SelectorOperator::kGt, {"1"}, {}}})));
  // Negative requirements on both sides never conflict.
  const Requirements not_a = Reqs({{"x", SelectorOperator::kNotIn, {"a"}, {}}});
  EXPECT_TRUE(not_a.Intersects(Reqs({{"x", SelectorOperator::kDoesNotExist, {}, {}}})));
}

}  // namespace
}  // namespace gpuslice::plan
