#include "replay/replay.h"

#include <gtest/gtest.h>

#include <set>

namespace gpuslice::replay {
namespace {

PodRequest Pod(int64_t cpu, int num_gpu, int milli) {
  return {.cpu_milli = cpu, .memory_mib = 0, .num_gpu = num_gpu, .gpu_milli = milli};
}

Cluster Nodes(int count, int gpus_each) {
  std::vector<NodeSpec> specs;
  for (int i = 0; i < count; ++i) {
    specs.push_back({"n" + std::to_string(i), 8000, 65536, gpus_each, "T4"});
  }
  return *Cluster::Create(specs);
}

// Scores every node the same and counts how often it is asked; gives the first whole GPUs or
// the tightest GPU.
class EqualScores : public PlacementPolicy {
 public:
  explicit EqualScores(bool reusable) : reusable_(reusable) {}
  double ScoreNode(const Node&, const PodRequest&) override {
    ++scored;
    return 1;
  }
  GpuMask ChooseGpus(const Node& node, const PodRequest& pod) override {
    chosen.insert(node.name);
    if (!pod.NeedsGpu()) return 0;
    return pod.IsSharing() ? TightestFittingGpu(node, pod) : FirstFullyFreeGpus(node, pod);
  }
  bool ScoresAreReusable() const override { return reusable_; }

  int scored = 0;
  std::set<std::string> chosen;

 private:
  bool reusable_;
};

TEST(Replay, TiesGoToTheFirstNodeOfTheSeededOrder) {
  const std::vector<PodRequest> pods(4, Pod(1000, 1, 250));  // all fit one 1-GPU node
  std::set<std::string> firsts;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    EqualScores policy(true);
    Result<ReplayOutcome> outcome = Replay(Nodes(8, 1), pods, policy, {.node_order_seed = seed});
    ASSERT_TRUE(outcome.ok());
    ASSERT_EQ(policy.chosen.size(), 1u) << "equal scores must not spread pods";
    firsts.insert(*policy.chosen.begin());

    EqualScores again(true);
    ASSERT_TRUE(Replay(Nodes(8, 1), pods, again, {.node_order_seed = seed}).ok());
    EXPECT_EQ(again.chosen, policy.chosen) << "same seed, same node";
  }
  EXPECT_GT(firsts.size(), 3u) << "the seed should move the first node around";
}

TEST(Replay, CountsFailuresAndArrivalsOfFailedPods) {
  // Two 1-GPU nodes: two whole-GPU pods fit, the third fails, a CPU-only pod still fits.
  const std::vector<PodRequest> pods = {Pod(1000, 1, 1000), Pod(1000, 1, 1000), Pod(1000, 1, 1000),
                                        Pod(1000, 0, 0)};
  EqualScores policy(true);
  Result<ReplayOutcome> outcome = Replay(Nodes(2, 1), pods, policy, {});
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(outcome->pods, 4);
  EXPECT_EQ(outcome->failed_pods, 1);
  EXPECT_EQ(outcome->arrived_gpu_milli, 3000);
  EXPECT_EQ(outcome->allocated_gpu_milli, 2000);
  // Samples: (50 %, 50 %), (100 %, 100 %), (150 %, 100 %), (150 %, 100 %).
  EXPECT_DOUBLE_EQ(*outcome->curve.At(50), 50);
  EXPECT_DOUBLE_EQ(*outcome->curve.At(100), 100);
  EXPECT_DOUBLE_EQ(*outcome->curve.At(150), 100);
}

TEST(Replay, ReusesScoresOfUnchangedNodesWhenThePolicyAllows) {
  const std::vector<PodRequest> pods(3, Pod(100, 0, 0));
  EqualScores reusable(true);
  ASSERT_TRUE(Replay(Nodes(3, 1), pods, reusable, {}).ok());
  EXPECT_EQ(reusable.scored, 3 + 1 + 1);  // later pods rescore only the node that changed
  EqualScores fresh(false);
  ASSERT_TRUE(Replay(Nodes(3, 1), pods, fresh, {}).ok());
  EXPECT_EQ(fresh.scored, 9);
}

TEST(Replay, RejectsGpuChoicesTheNodeCannotGive) {
  class BadGpus : public EqualScores {
   public:
    BadGpus() : EqualScores(true) {}
    GpuMask ChooseGpus(const Node&, const PodRequest&) override { return 0b11; }
  } policy;
  Result<ReplayOutcome> outcome = Replay(Nodes(2, 2), {Pod(1000, 1, 500)}, policy, {});
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.status().code(), StatusCode::kInternal);
}

TEST(Replay, NeedsGpuCapacityAndReportsProgress) {
  EqualScores policy(true);
  EXPECT_EQ(Replay(*Cluster::Create({{"cpu", 1000, 1024, 0, ""}}), {Pod(1, 0, 0)}, policy, {})
                .status()
                .code(),
            StatusCode::kFailedPrecondition);
  std::vector<int64_t> reports;
  const std::vector<PodRequest> pods(5, Pod(1, 0, 0));
  ASSERT_TRUE(
      Replay(Nodes(1, 1), pods, policy,
             {.on_progress = [&](int64_t done) { reports.push_back(done); }, .progress_every = 2})
          .ok());
  EXPECT_EQ(reports, (std::vector<int64_t>{2, 4, 5}));
}

}  // namespace
}  // namespace gpuslice::replay
