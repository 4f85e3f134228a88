// FGD and FGD-Host scores and GPU choices on hand-made nodes. With the single target shape
// "half a GPU and 2 cores", a node's fragmentation is the free milli on GPUs with less than 500
// free, or all its free milli when it has under 2 cores left. Scores are
// int(100 * sigmoid(-dF / 1000)).
#include <gtest/gtest.h>

#include "replay/cluster.h"
#include "replay/fragmentation.h"
#include "replay/policy.h"

namespace gpuslice::replay {
namespace {

PodRequest Pod(int64_t cpu, int num_gpu, int milli) {
  return {.cpu_milli = cpu, .memory_mib = 0, .num_gpu = num_gpu, .gpu_milli = milli};
}

class FgdPolicies : public ::testing::Test {
 protected:
  // A node with 10 cores and two T4s, the second with 300 milli taken.
  void SetUp() override {
    cluster_ = *Cluster::Create({{"n", 10000, 65536, 2, "T4"}, {"tight", 2500, 65536, 2, "T4"}});
    ASSERT_TRUE(cluster_.Allocate(0, Pod(0, 1, 300), 0b10).ok());
  }

  std::unique_ptr<PlacementPolicy> Make(std::string_view name) {
    Result<std::unique_ptr<PlacementPolicy>> policy = MakePolicy(name, {.target_mix = &mix_});
    EXPECT_TRUE(policy.ok()) << policy.status().ToString();
    return std::move(*policy);
  }

  const TargetPodMix mix_ =
      TargetPodMix({{.cpu_milli = 2000, .num_gpu = 1, .gpu_milli = 500, .weight = 1}});
  Cluster cluster_;
};

TEST_F(FgdPolicies, SharingPodGoesToTheGpuThatFragmentsLeast) {
  std::unique_ptr<PlacementPolicy> fgd = Make("fgd");
  const Node& node = cluster_.node(0);  // free 1000, 700: fragmentation 0
  // 700 on GPU 0 leaves 300 (dF = 300 -> 42); on GPU 1 it leaves 0 (dF = 0 -> 50).
  EXPECT_EQ(fgd->ScoreNode(node, Pod(1000, 1, 700)), 50);
  EXPECT_EQ(fgd->ChooseGpus(node, Pod(1000, 1, 700)), 0b10u);
  // 300 on GPU 0 leaves 700 (dF = 0); on GPU 1 it leaves 400 (dF = 400 -> 40): GPU 0.
  EXPECT_EQ(fgd->ChooseGpus(node, Pod(1000, 1, 300)), 0b01u);
  // 200 fragments neither: equal scores, the lower index wins.
  EXPECT_EQ(fgd->ScoreNode(node, Pod(1000, 1, 200)), 50);
  EXPECT_EQ(fgd->ChooseGpus(node, Pod(1000, 1, 200)), 0b01u);
}

TEST_F(FgdPolicies, FillingAFragmentScoresAboveHalf) {
  ASSERT_TRUE(cluster_.Allocate(0, Pod(0, 1, 400), 0b10).ok());  // free 1000, 300: F = 300
  std::unique_ptr<PlacementPolicy> fgd = Make("fgd");
  // 300 on GPU 1 empties the fragment: dF = -300 -> int(100 * sigmoid(0.3)) = 57.
  EXPECT_EQ(fgd->ScoreNode(cluster_.node(0), Pod(1000, 1, 300)), 57);
  EXPECT_EQ(fgd->ChooseGpus(cluster_.node(0), Pod(1000, 1, 300)), 0b10u);
}

TEST_F(FgdPolicies, WholeGpuAndCpuOnlyPodsCountTheCpuTheyTake) {
  std::unique_ptr<PlacementPolicy> fgd = Make("fgd");
  const Node& tight = cluster_.node(1);  // 2.5 cores, two free T4s: F = 0
  // A whole GPU and 1 core leave 1.5 cores: the shape no longer runs, all 1000 left is
  // fragment: dF = 1000 -> int(100 * sigmoid(-1)) = 26.
  EXPECT_EQ(fgd->ScoreNode(tight, Pod(1000, 1, 1000)), 26);
  EXPECT_EQ(fgd->ChooseGpus(tight, Pod(1000, 1, 1000)), 0b01u);
  // A CPU-only pod of 1 core strands both GPUs: dF = 2000 -> 11.
  EXPECT_EQ(fgd->ScoreNode(tight, Pod(1000, 0, 0)), 11);
  EXPECT_EQ(fgd->ChooseGpus(tight, Pod(1000, 0, 0)), 0u);
  EXPECT_EQ(fgd->ScoreNode(tight, Pod(500, 0, 0)), 50);
}

TEST_F(FgdPolicies, FgdHostAlsoCountsGpusTheFreeCpuCannotFeed) {
  // The shape brings 2000 / 500 = 4 CPU milli per milli-GPU. Node 0 has 10 cores for 1700
  // milli free: 2500 milli could be fed, nothing strands.
  std::unique_ptr<PlacementPolicy> host = Make("fgd-host");
  const Node& node = cluster_.node(0);
  EXPECT_EQ(host->ScoreNode(node, Pod(1000, 1, 700)), 50);
  // Taking 6 cores leaves 4: they feed 1000 of the 1700 free milli, 700 strand:
  // dF = 700 -> int(100 * sigmoid(-0.7)) = 33. FGD alone sees nothing (the shape still runs).
  EXPECT_EQ(host->ScoreNode(node, Pod(6000, 0, 0)), 33);
  EXPECT_EQ(Make("fgd")->ScoreNode(node, Pod(6000, 0, 0)), 50);
  // 8 cores and 300 milli leave 2 cores to feed 500 of the 1400 milli left: 900 strand on
  // either GPU. On GPU 0 nothing else fragments (dF = 900 -> 28); GPU 1 would also leave a
  // 400 fragment (dF = 1300 -> 21). FGD alone sees 0 and 400.
  EXPECT_EQ(host->ScoreNode(node, Pod(8000, 1, 300)), 28);
  EXPECT_EQ(host->ChooseGpus(node, Pod(8000, 1, 300)), 0b01u);
  EXPECT_EQ(Make("fgd")->ScoreNode(node, Pod(8000, 1, 300)), 50);
}

}  // namespace
}  // namespace gpuslice::replay
