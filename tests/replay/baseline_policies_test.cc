// The baselines' scores and GPU choices on hand-made nodes, computed by hand from the
// formulas of the FGD paper's reference simulator.
#include <gtest/gtest.h>

#include <set>

#include "replay/cluster.h"
#include "replay/fragmentation.h"
#include "replay/policy.h"

namespace gpuslice::replay {
namespace {

PodRequest Pod(int64_t cpu, int num_gpu, int milli) {
  return {.cpu_milli = cpu, .memory_mib = 1024, .num_gpu = num_gpu, .gpu_milli = milli};
}

// An 8-GPU G2 node with 48 of its 96 cores taken and GPUs free 0, 1000, 400, 300, then 4 x
// 1000 (5700 milli free), holding one whole-GPU pod and two sharing pods; plus an idle 8-GPU
// node and an idle 2-GPU node.
class BaselinePolicies : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<Cluster> cluster = Cluster::Create({{"busy", 96000, 393216, 8, "G2"},
                                               {"idle8", 96000, 393216, 8, "G2"},
                                               {"idle2", 64000, 262144, 2, "P100"}});
    ASSERT_TRUE(cluster.ok());
    cluster_ = *cluster;
    ASSERT_TRUE(cluster_.Allocate(0, Pod(40000, 1, 1000), 0b0001).ok());
    ASSERT_TRUE(cluster_.Allocate(0, Pod(4000, 1, 600), 0b0100).ok());
    ASSERT_TRUE(cluster_.Allocate(0, Pod(4000, 1, 700), 0b1000).ok());
  }

  double Score(std::string_view policy, size_t node, const PodRequest& pod) {
    return Make(policy)->ScoreNode(cluster_.node(node), pod);
  }
  GpuMask Gpus(std::string_view policy, size_t node, const PodRequest& pod) {
    return Make(policy)->ChooseGpus(cluster_.node(node), pod);
  }
  std::unique_ptr<PlacementPolicy> Make(std::string_view policy) {
    Result<std::unique_ptr<PlacementPolicy>> made = MakePolicy(policy, {.seed = 1});
    EXPECT_TRUE(made.ok()) << made.status().ToString();
    return std::move(*made);
  }

  Cluster cluster_;
};

TEST_F(BaselinePolicies, BestFitScoresTheLeftoverAndTakesTheTightestGpu) {
  // 1 - ((48000 - 8000) / 128000 / 2 + (5700 - 1000) / 8000 / 2) = 0.55 -> 55
  EXPECT_EQ(Score("best-fit", 0, Pod(8000, 1, 1000)), 55);
  // Idle 8-GPU node: 1 - (88000 / 128000 / 2 + 7000 / 8000 / 2) = 0.21875 -> 21
  EXPECT_EQ(Score("best-fit", 1, Pod(8000, 1, 1000)), 21);
  EXPECT_EQ(Gpus("best-fit", 0, Pod(1000, 1, 250)), 0b1000u);    // 300 free
  EXPECT_EQ(Gpus("best-fit", 0, Pod(1000, 1, 350)), 0b0100u);    // 400 free
  EXPECT_EQ(Gpus("best-fit", 0, Pod(1000, 2, 1000)), 0b10010u);  // first whole GPUs
  EXPECT_EQ(Gpus("best-fit", 0, Pod(1000, 0, 0)), 0u);
}

TEST_F(BaselinePolicies, DotProductPrefersTheSmallestAlignment) {
  // dot = 48000/128000 * 8000/128000 + 5700/8000 * 1000/8000 = 0.1125; 1 - dot/2 -> 94
  EXPECT_EQ(Score("dot-product", 0, Pod(8000, 1, 1000)), 94);
  // Idle: 96000/128000 * 8000/128000 + 8000/8000 * 1000/8000 = 0.171875 -> 91
  EXPECT_EQ(Score("dot-product", 1, Pod(8000, 1, 1000)), 91);
  EXPECT_EQ(Gpus("dot-product", 0, Pod(1000, 1, 250)), 0b1000u);
}

TEST_F(BaselinePolicies, PackingRanksSharedGpusThenUsedNodesThenIdleNodes) {
  // Shares the 300-free GPU: 100 - (300 * 100 / 1000) / 10 = 97
  EXPECT_EQ(Score("packing", 0, Pod(1000, 1, 250)), 97);
  // No partly used GPU has 500: takes a whole GPU on a used node, 50 - 1
  EXPECT_EQ(Score("packing", 0, Pod(1000, 1, 500)), 49);
  EXPECT_EQ(Score("packing", 0, Pod(1000, 2, 1000)), 48);
  // Idle nodes: 33 - free GPUs, at least the free GPU count
  EXPECT_EQ(Score("packing", 1, Pod(1000, 1, 1000)), 25);
  EXPECT_EQ(Score("packing", 2, Pod(1000, 1, 1000)), 31);
  EXPECT_EQ(Score("packing", 0, Pod(1000, 0, 0)), 0);
  EXPECT_EQ(Gpus("packing", 0, Pod(1000, 1, 250)), 0b1000u);
}

TEST_F(BaselinePolicies, ClusteringKeepsPodsOfAKindTogether) {
  // Busy node: 2300 of 8000 milli used -> 25 * 2300 / 8000 = 7; kinds: sharing and 1-GPU.
  EXPECT_EQ(Score("clustering", 0, Pod(1000, 1, 300)), 7 + 50);  // its kind among others
  EXPECT_EQ(Score("clustering", 0, Pod(1000, 1, 1000)), 7 + 50);
  EXPECT_EQ(Score("clustering", 0, Pod(1000, 2, 1000)), 7 + 0);   // other kinds only
  EXPECT_EQ(Score("clustering", 1, Pod(1000, 2, 1000)), 0 + 25);  // idle node
  EXPECT_EQ(Score("clustering", 1, Pod(1000, 0, 0)), 0);
  ASSERT_TRUE(cluster_.Allocate(1, Pod(1000, 1, 500), 0b1).ok());
  EXPECT_EQ(Score("clustering", 1, Pod(1000, 1, 300)), 1 + 75);  // only its kind here
  EXPECT_EQ(Gpus("clustering", 0, Pod(1000, 1, 250)), 0b1000u);
}

TEST_F(BaselinePolicies, RandomDrawsFittingGpusAndFreshScores) {
  std::unique_ptr<PlacementPolicy> random = Make("random");
  EXPECT_FALSE(random->ScoresAreReusable());
  std::set<GpuMask> chosen;
  for (int draw = 0; draw < 200; ++draw) {
    chosen.insert(random->ChooseGpus(cluster_.node(0), Pod(1000, 1, 350)));
    const double score = random->ScoreNode(cluster_.node(0), Pod(1000, 1, 350));
    EXPECT_GE(score, 0);
    EXPECT_LT(score, 1);
  }
  // Every GPU with at least 350 free, and no other: 1000, 400, and the last four.
  EXPECT_EQ(chosen, (std::set<GpuMask>{0b10, 0b100, 0b10000, 0b100000, 0b1000000, 0b10000000}));
  EXPECT_EQ(random->ChooseGpus(cluster_.node(0), Pod(1000, 2, 1000)), 0b10010u);
}

TEST(MakePolicy, NamesTheKnownPoliciesAndNeedsTheMixWhereUsed) {
  EXPECT_EQ(MakePolicy("tetris", {}).status().message(),
            "unknown policy 'tetris' (known: random, dot-product, clustering, packing, best-fit, "
            "fgd, fgd-host)");
  EXPECT_EQ(MakePolicy("fgd", {}).status().message(), "policy 'fgd' needs the target pod mix");
  const TargetPodMix mix({{.cpu_milli = 1000, .num_gpu = 1, .gpu_milli = 500, .weight = 1}});
  for (const PolicyInfo& info : KnownPolicies()) {
    EXPECT_TRUE(MakePolicy(info.name, {.seed = 3, .target_mix = &mix}).ok()) << info.name;
    EXPECT_EQ(FindPolicy(info.name), &info);
  }
  EXPECT_EQ(FindPolicy("nope"), nullptr);
}

}  // namespace
}  // namespace gpuslice::replay
