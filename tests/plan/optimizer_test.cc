#include "plan/optimizer.h"

#include <gtest/gtest.h>

#include <functional>
#include <limits>
#include <random>

namespace gpuslice::plan {
namespace {

// A random single-pool problem: a few instance types with random allocatable cpu, memory and
// GPU slices and random prices, a few pods with random requests.
struct Problem {
  kube::NodePool pool;
  std::vector<InstanceType> types;
  std::vector<kube::Toleration> no_tolerations;
  ClusterModel model;
};

std::unique_ptr<Problem> RandomProblem(std::mt19937_64& rng, int pods, int types) {
  auto problem = std::make_unique<Problem>();
  problem->pool.name = "pool";
  problem->types.resize(types);
  const auto uniform = [&](int lo, int hi) {
    return std::uniform_int_distribution<int>(lo, hi)(rng);
  };
  NodePoolTemplate pool;
  pool.pool = &problem->pool;
  pool.requirements = Requirements::FromLabels({{"karpenter.sh/nodepool", "pool"}});
  for (int t = 0; t < types; ++t) {
    InstanceType& type = problem->types[t];
    type.name = "type-" + std::to_string(t);
    InstanceOption option;
    option.type = &type;
    option.allocatable = {uniform(1, 8) * 1000, uniform(2, 16), uniform(2, 8), uniform(0, 8)};
    option.capacity = option.allocatable;
    option.price = uniform(100, 2000) / 100.0;
    option.launchable = true;
    pool.options.push_back(option);
  }
  pool.daemon_overhead.assign(pool.options.size(), Amounts());
  pool.limits.assign(problem->model.space.size(), kUnlimited);
  problem->model.pools.push_back(std::move(pool));
  for (int p = 0; p < pods; ++p) {
    PodDemand demand;
    demand.pod = p;
    demand.shape = p;
    demand.requests = {uniform(1, 30) * 100, uniform(0, 6), 1, uniform(0, 3)};
    demand.alternatives = {Requirements()};
    demand.relaxations = demand.alternatives;
    demand.tolerations = &problem->no_tolerations;
    problem->model.pods.push_back(std::move(demand));
    problem->model.pod_gpu_memory.push_back(0);
  }
  return problem;
}

// The cheapest cost of placing the pods that fit somewhere, by trying every partition of them
// into nodes and the cheapest type for each node. Returns the number of pods that fit nowhere.
double BruteForce(const ClusterModel& model, size_t* unplaceable) {
  const NodePoolTemplate& pool = model.pools[0];
  std::vector<size_t> pods;
  *unplaceable = 0;
  for (size_t d = 0; d < model.pods.size(); ++d) {
    bool fits = false;
    for (const InstanceOption& o : pool.options)
      fits |= Fits(model.pods[d].requests, o.allocatable);
    if (fits) {
      pods.push_back(d);
    } else {
      ++*unplaceable;
    }
  }
  double best = std::numeric_limits<double>::infinity();
  std::vector<Amounts> blocks;
  std::function<void(size_t)> assign = [&](size_t i) {
    if (i == pods.size()) {
      double cost = 0;
      for (const Amounts& block : blocks) {
        double cheapest = std::numeric_limits<double>::infinity();
        for (const InstanceOption& o : pool.options) {
          if (Fits(block, o.allocatable)) cheapest = std::min(cheapest, o.price);
        }
        cost += cheapest;
      }
      best = std::min(best, cost);
      return;
    }
    const Amounts& request = model.pods[pods[i]].requests;
    for (size_t b = 0; b < blocks.size(); ++b) {
      const Amounts before = blocks[b];
      AddTo(&blocks[b], request);
      assign(i + 1);
      blocks[b] = before;
    }
    blocks.push_back(request);
    assign(i + 1);
    blocks.pop_back();
  };
  assign(0);
  return pods.empty() ? 0 : best;
}

TEST(Optimize, MatchesBruteForceOnSmallRandomProblems) {
  std::mt19937_64 rng(42);
  for (int round = 0; round < 60; ++round) {
    SCOPED_TRACE(round);
    auto problem = RandomProblem(rng, 3 + round % 5, 2 + round % 3);
    size_t unplaceable = 0;
    const double expected = BruteForce(problem->model, &unplaceable);
    Result<Optimum> optimum = Optimize(problem->model, {});
    ASSERT_TRUE(optimum.ok()) << optimum.status().ToString();
    EXPECT_TRUE(optimum->integral);
    EXPECT_TRUE(optimum->proven);
    EXPECT_TRUE(optimum->enumerated);
    EXPECT_EQ(optimum->unplaced.size(), unplaceable);
    EXPECT_NEAR(optimum->cost, expected, 1e-6);
    EXPECT_NEAR(optimum->lower_bound, expected, 1e-6);
  }
}

// Forced off the exact path, column generation still bounds the optimum from below and the
// integer program over its patterns gives a real plan no cheaper than the optimum.
TEST(Optimize, ColumnGenerationBoundsTheOptimum) {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 30; ++round) {
    SCOPED_TRACE(round);
    auto problem = RandomProblem(rng, 4 + round % 4, 3);
    size_t unplaceable = 0;
    const double expected = BruteForce(problem->model, &unplaceable);
    OptimizerOptions options;
    options.max_patterns = 0;
    Result<Optimum> optimum = Optimize(problem->model, options);
    ASSERT_TRUE(optimum.ok()) << optimum.status().ToString();
    EXPECT_FALSE(optimum->enumerated);
    EXPECT_TRUE(optimum->integral);
    EXPECT_LE(optimum->lower_bound, expected + 1e-6);
    EXPECT_GE(optimum->cost, expected - 1e-6);

    options.max_ilp_pods = 1;
    Result<Optimum> bound = Optimize(problem->model, options);
    ASSERT_TRUE(bound.ok());
    EXPECT_FALSE(bound->integral);
    // The fractional-node relaxation is weaker than the pattern LP, and still a bound.
    EXPECT_LE(bound->cost, optimum->lower_bound + 1e-6);
    EXPECT_NEAR(bound->lower_bound, bound->cost, 1e-9);
  }
}

}  // namespace
}  // namespace gpuslice::plan
