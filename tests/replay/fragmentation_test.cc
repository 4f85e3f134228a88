#include "replay/fragmentation.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

namespace gpuslice::replay {
namespace {

constexpr int kT4 = 0;
constexpr int kG2 = 1;

// A: no GPU; B: half a GPU of any model; C: two whole T4s.
TargetPodMix WorkedMix() {
  return TargetPodMix({
      {.cpu_milli = 2000, .num_gpu = 1, .gpu_milli = 500, .memory_mib = 1000, .weight = 0.5},
      {.cpu_milli = 8000,
       .num_gpu = 2,
       .gpu_milli = 1000,
       .models = ModelSet{.any = false, .mask = 1u << kT4},
       .memory_mib = 4000,
       .weight = 0.3},
      {.cpu_milli = 4000, .weight = 0.2},
  });
}

double F(const TargetPodMix& mix, int model, int64_t cpu, std::vector<int32_t> gpus) {
  return FragmentationMeasure(mix).Evaluate({model, cpu, 1 << 30, gpus});
}

TEST(FragmentationMeasure, WorkedExampleOnAPartlyUsedNode) {
  // Idle 2000 milli. A can never use a GPU: 0.2 * 2000. B runs (two GPUs have >= 500 free),
  // its fragment is the 300 on the GPU with less than 500: 0.5 * 300. C needs T4s: 0.3 * 2000.
  EXPECT_DOUBLE_EQ(F(WorkedMix(), kG2, 10000, {1000, 300, 700, 0}), 400 + 150 + 600);
  // On T4s C is accepted but only one GPU is whole: still all idle for C.
  EXPECT_DOUBLE_EQ(F(WorkedMix(), kT4, 10000, {1000, 300, 700, 0}), 400 + 150 + 600);
}

TEST(FragmentationMeasure, TooLittleCpuMakesEverythingFragment) {
  EXPECT_DOUBLE_EQ(F(WorkedMix(), kT4, 1000, {1000, 300, 700, 0}), 2000);
}

TEST(FragmentationMeasure, WholeFreeGpusAreFragmentOnlyForPodsWithoutGpus) {
  EXPECT_DOUBLE_EQ(F(WorkedMix(), kT4, 10000, {1000, 1000}), 0.2 * 2000);
}

TEST(FragmentationMeasure, NodesWithoutIdleGpusOrGpusHaveNone) {
  EXPECT_DOUBLE_EQ(F(WorkedMix(), kG2, 10000, {0, 0}), 0);
  EXPECT_DOUBLE_EQ(F(WorkedMix(), -1, 10000, {}), 0);
}

TEST(HostStranding, CountsGpusTheFreeCpuOrMemoryCannotFeed) {
  // GPU shapes bring (0.5*2000 + 0.3*8000) / (0.5*500 + 0.3*2000) = 4 CPU milli and
  // (0.5*1000 + 0.3*4000) / 850 = 2 MiB per milli-GPU.
  const HostStranding stranding(WorkedMix());
  EXPECT_DOUBLE_EQ(stranding.cpu_milli_per_gpu_milli(), 4);
  EXPECT_DOUBLE_EQ(stranding.memory_mib_per_gpu_milli(), 2);
  const std::vector<int32_t> gpus = {1000, 1000};
  EXPECT_DOUBLE_EQ(stranding.Evaluate({kG2, 6000, 5000, gpus}), 500);   // CPU feeds 1500
  EXPECT_DOUBLE_EQ(stranding.Evaluate({kG2, 6000, 2000, gpus}), 1000);  // memory feeds 1000
  EXPECT_DOUBLE_EQ(stranding.Evaluate({kG2, 9000, 9000, gpus}), 0);
  EXPECT_DOUBLE_EQ(
      HostStranding(TargetPodMix({{.cpu_milli = 1000, .weight = 1}})).Evaluate({kG2, 0, 0, gpus}),
      0);  // no GPU shapes: nothing to strand
}

std::vector<PodRequest> Pods() {
  auto pod = [](int64_t cpu, int gpus, int milli, int64_t memory) {
    return PodRequest{.cpu_milli = cpu, .memory_mib = memory, .num_gpu = gpus, .gpu_milli = milli};
  };
  return {pod(1000, 1, 500, 100), pod(1000, 1, 500, 200), pod(1000, 1, 500, 300),
          pod(2000, 0, 0, 50),    pod(2000, 0, 0, 50),    pod(3000, 1, 1000, 10),
          pod(3000, 1, 1000, 30), pod(500, 8, 1000, 80)};
}

TEST(TargetPodMix, RanksShapesByFrequencyThenSizeWhateverThePodOrder) {
  std::vector<PodRequest> pods = Pods();
  std::shuffle(pods.begin(), pods.end(), std::mt19937_64(7));
  const TargetPodMix mix = TargetPodMix::FromPods(pods);
  ASSERT_EQ(mix.shapes().size(), 4u);
  const auto& shapes = mix.shapes();
  EXPECT_EQ(shapes[0].gpu_milli, 500);
  EXPECT_DOUBLE_EQ(shapes[0].weight, 3.0 / 8);
  EXPECT_DOUBLE_EQ(shapes[0].memory_mib, 200);
  EXPECT_EQ(shapes[1].cpu_milli, 3000);  // ties with the CPU-only shape, but asks more CPU
  EXPECT_DOUBLE_EQ(shapes[1].memory_mib, 20);
  EXPECT_EQ(shapes[2].num_gpu, 0);
  EXPECT_EQ(shapes[3].num_gpu, 8);
  EXPECT_DOUBLE_EQ(shapes[3].weight, 1.0 / 8);
}

TEST(TargetPodMix, MostFrequentCoversAtLeastTheShareAndRenormalizes) {
  const TargetPodMix mix = TargetPodMix::FromPods(Pods());
  const TargetPodMix top = mix.MostFrequent(0.6);
  ASSERT_EQ(top.shapes().size(), 2u);  // 3/8 is short of 0.6, 5/8 reaches it
  EXPECT_DOUBLE_EQ(top.shapes()[0].weight, 0.6);
  EXPECT_DOUBLE_EQ(top.shapes()[1].weight, 0.4);
  EXPECT_EQ(mix.MostFrequent(0.95).shapes().size(), 4u);
  EXPECT_EQ(mix.MostFrequent(0.625).shapes().size(), 2u);  // exactly 5/8 suffices
}

}  // namespace
}  // namespace gpuslice::replay
