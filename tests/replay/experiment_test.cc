#include "replay/experiment.h"

#include <gtest/gtest.h>

#include <mutex>

#include "replay/policy.h"
#include "replay/report.h"
#include "replay/trace.h"

namespace gpuslice::replay {
namespace {

// The fixture: 60 nodes (318 GPUs) and 300 pods of the openb trace.
class ExperimentOnExcerpt : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string data = std::string(GPUSLICE_SOURCE_DIR) + "/tests/replay/data/";
    nodes_ = new std::vector<NodeSpec>(*LoadNodeList(data + "openb_node_list_excerpt.csv"));
    Result<std::vector<TracePod>> trace = LoadPodList(data + "openb_pod_list_excerpt.csv");
    ASSERT_TRUE(trace.ok()) << trace.status().ToString();
    pods_ = new std::vector<PodSpec>();
    for (TracePod& pod : *trace) pods_->push_back(std::move(pod.spec));
  }
  static void TearDownTestSuite() {
    delete nodes_;
    delete pods_;
  }

  static ExperimentOptions AllPolicies(std::vector<uint64_t> seeds) {
    ExperimentOptions options;
    for (const PolicyInfo& info : KnownPolicies()) options.policies.emplace_back(info.name);
    options.seeds = std::move(seeds);
    return options;
  }

  static std::vector<NodeSpec>* nodes_;
  static std::vector<PodSpec>* pods_;
};
std::vector<NodeSpec>* ExperimentOnExcerpt::nodes_ = nullptr;
std::vector<PodSpec>* ExperimentOnExcerpt::pods_ = nullptr;

TEST_F(ExperimentOnExcerpt, RunsEveryPolicyOnEverySeedAndReadsBothPoints) {
  ExperimentOptions options = AllPolicies({1, 2, 3});
  std::mutex mutex;
  ExperimentProgress last;
  int reports = 0;
  options.on_progress = [&](const ExperimentProgress& progress) {
    std::lock_guard<std::mutex> lock(mutex);
    EXPECT_GE(progress.pods_done, last.pods_done);
    last = progress;
    ++reports;
  };
  Result<ExperimentResult> result = RunExperiment(*nodes_, *pods_, options);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->gpu_capacity_milli, 318000);
  EXPECT_EQ(result->nodes, 60);
  EXPECT_EQ(result->trace_pods, 300);
  ASSERT_EQ(result->policies.size(), KnownPolicies().size());
  for (const PolicyResult& policy : result->policies) {
    ASSERT_EQ(policy.runs.size(), 3u);
    for (const RunResult& run : policy.runs) {
      EXPECT_GT(run.pods, 300);  // inflated to 1.3x of 318 GPUs: more than the trace
      EXPECT_GT(run.failed_pods, 0);
    }
    const std::optional<Spread> at100 = policy.At(100);
    const std::optional<Spread> at130 = policy.At(130);
    ASSERT_TRUE(at100 && at130) << policy.name;
    EXPECT_GT(at100->median, 50) << policy.name;
    EXPECT_LE(at130->max, 100) << policy.name;
    EXPECT_LE(at100->min, at100->median);
    EXPECT_LE(at100->median, at100->max);
  }
  EXPECT_EQ(last.runs_done, last.runs_total);
  EXPECT_EQ(last.runs_total, 3 * static_cast<int>(KnownPolicies().size()));
  EXPECT_EQ(last.pods_done, last.pods_total);
  EXPECT_GT(reports, last.runs_total);
}

TEST_F(ExperimentOnExcerpt, IsDeterministicWhateverTheNumberOfThreads) {
  ExperimentOptions one = AllPolicies({7, 8});
  one.jobs = 1;
  ExperimentOptions two = AllPolicies({7, 8});
  two.jobs = 2;
  Result<ExperimentResult> a = RunExperiment(*nodes_, *pods_, one);
  Result<ExperimentResult> b = RunExperiment(*nodes_, *pods_, two);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->jobs, 1);
  EXPECT_EQ(b->jobs, 2);
  EXPECT_EQ(RenderCurvesCsv(*a), RenderCurvesCsv(*b));
  for (size_t p = 0; p < a->policies.size(); ++p) {
    for (size_t s = 0; s < 2; ++s) {
      EXPECT_EQ(a->policies[p].runs[s].failed_pods, b->policies[p].runs[s].failed_pods);
    }
  }
}

TEST_F(ExperimentOnExcerpt, RejectsBadOptionsAndInputs) {
  ExperimentOptions options = AllPolicies({1});
  auto error = [&](const ExperimentOptions& o, const std::vector<NodeSpec>& nodes,
                   const std::vector<PodSpec>& pods) {
    return RunExperiment(nodes, pods, o).status().message();
  };
  ExperimentOptions no_policy = options;
  no_policy.policies.clear();
  EXPECT_EQ(error(no_policy, *nodes_, *pods_), "no policy to replay");
  ExperimentOptions unknown = options;
  unknown.policies = {"best-fit", "worst-fit"};
  EXPECT_EQ(error(unknown, *nodes_, *pods_).rfind("unknown policy 'worst-fit'", 0), 0u);
  ExperimentOptions no_seed = options;
  no_seed.seeds.clear();
  EXPECT_EQ(error(no_seed, *nodes_, *pods_), "no seed to replay with");
  ExperimentOptions zero = options;
  zero.inflate = 0;
  EXPECT_EQ(error(zero, *nodes_, *pods_), "inflate 0 is not a positive number");
  EXPECT_EQ(error(options, {{"cpu", 1000, 1024, 0, ""}}, *pods_), "the node list has no GPUs");
  EXPECT_EQ(error(options, *nodes_, {}), "the pod list is empty");
  EXPECT_EQ(error(options, *nodes_, {{.name = "p", .num_gpu = 2, .gpu_milli = 300}}),
            "pod 'p': gpu_milli 300 is a fraction but num_gpu is 2 (only single-GPU pods "
            "share a GPU)");
}

TEST_F(ExperimentOnExcerpt, RendersCurvesAsSvgAndCsv) {
  ExperimentOptions options;
  options.policies = {"best-fit", "fgd"};
  options.seeds = {1, 2};
  Result<ExperimentResult> result = RunExperiment(*nodes_, *pods_, options);
  ASSERT_TRUE(result.ok());

  const std::string svg = RenderCurvesSvg(*result, {.subtitle = "excerpt <test> & more"});
  EXPECT_EQ(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_NE(svg.find("excerpt &lt;test&gt; &amp; more"), std::string::npos);
  EXPECT_NE(svg.find(">BestFit  "), std::string::npos);
  EXPECT_NE(svg.find(">FGD  "), std::string::npos);
  size_t lines = 0;
  for (size_t at = svg.find("stroke-width=\"2\""); at != std::string::npos;
       at = svg.find("stroke-width=\"2\"", at + 1)) {
    ++lines;
  }
  EXPECT_EQ(lines, 2u);  // one median line per policy

  const std::string csv = RenderCurvesCsv(*result);
  EXPECT_EQ(csv.rfind("policy,arrived_pct,alloc_pct_median,alloc_pct_min,alloc_pct_max,seeds\n", 0),
            0u);
  EXPECT_NE(csv.find("\nfgd,100,"), std::string::npos);
  EXPECT_NE(csv.find("\nbest-fit,130,"), std::string::npos);
}

}  // namespace
}  // namespace gpuslice::replay
