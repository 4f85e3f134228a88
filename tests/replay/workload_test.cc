#include "replay/workload.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <tuple>

namespace gpuslice::replay {
namespace {

PodRequest Pod(int64_t cpu, int num_gpu, int milli) {
  return {.cpu_milli = cpu, .memory_mib = 0, .num_gpu = num_gpu, .gpu_milli = milli};
}

int64_t TotalGpu(const std::vector<PodRequest>& pods) {
  int64_t total = 0;
  for (const PodRequest& pod : pods) total += pod.TotalGpuMilli();
  return total;
}

using Key = std::tuple<int64_t, int, int>;
std::map<Key, int> Count(const std::vector<PodRequest>& pods) {
  std::map<Key, int> counts;
  for (const PodRequest& pod : pods) ++counts[{pod.cpu_milli, pod.num_gpu, pod.gpu_milli}];
  return counts;
}

// 20 distinct pods asking 0.1..2.0 GPUs (21 GPUs in all) plus two without GPUs.
std::vector<PodRequest> Trace() {
  std::vector<PodRequest> pods;
  for (int i = 1; i <= 10; ++i) pods.push_back(Pod(i, 1, 100 * i));
  for (int i = 1; i <= 10; ++i) pods.push_back(Pod(100 + i, 2, 1000));
  pods.push_back(Pod(1000, 0, 0));
  pods.push_back(Pod(2000, 0, 0));
  return pods;
}

TEST(ArrivalSequence, InflatesWithCopiesUpToTheTargetAndNoFurther) {
  const std::vector<PodRequest> trace = Trace();  // 25500 milli
  const std::vector<PodRequest> pods = ArrivalSequence(trace, 40000, {.inflate = 1.3, .seed = 7});
  // The trace comes first, shuffled, then copies of trace pods.
  const std::vector<PodRequest> head(pods.begin(), pods.begin() + trace.size());
  EXPECT_EQ(Count(head), Count(trace));
  EXPECT_NE(head, trace);
  const std::map<Key, int> kinds = Count(trace);
  for (size_t i = trace.size(); i < pods.size(); ++i) {
    EXPECT_TRUE(kinds.contains({pods[i].cpu_milli, pods[i].num_gpu, pods[i].gpu_milli}));
  }
  EXPECT_LE(TotalGpu(pods), 52000);
  EXPECT_GT(TotalGpu(pods), 52000 - 2000);  // it stops at the first copy that would overshoot
}

TEST(ArrivalSequence, TrimsRandomPodsWhenTheTraceAsksForMore) {
  const std::vector<PodRequest> trace = Trace();
  const std::vector<PodRequest> pods = ArrivalSequence(trace, 10000, {.inflate = 1.3, .seed = 7});
  EXPECT_LE(TotalGpu(pods), 13000);
  EXPECT_LT(pods.size(), trace.size());
  std::map<Key, int> left = Count(trace);
  for (const PodRequest& pod : pods) {
    const Key key{pod.cpu_milli, pod.num_gpu, pod.gpu_milli};
    EXPECT_GT(left[key]--, 0);  // each trace pod at most once
  }
}

TEST(ArrivalSequence, TheSeedDecidesTheSequence) {
  const std::vector<PodRequest> trace = Trace();
  EXPECT_EQ(ArrivalSequence(trace, 40000, {.seed = 42}),
            ArrivalSequence(trace, 40000, {.seed = 42}));
  EXPECT_NE(ArrivalSequence(trace, 40000, {.seed = 42}),
            ArrivalSequence(trace, 40000, {.seed = 43}));
}

}  // namespace
}  // namespace gpuslice::replay
