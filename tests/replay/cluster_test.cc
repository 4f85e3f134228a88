#include "replay/cluster.h"

#include <gtest/gtest.h>

namespace gpuslice::replay {
namespace {

Cluster TwoNodes() {
  Result<Cluster> cluster =
      Cluster::Create({{"t4", 16000, 65536, 2, "T4"}, {"g2", 96000, 393216, 8, "G2"}});
  EXPECT_TRUE(cluster.ok()) << cluster.status().ToString();
  return *cluster;
}

PodRequest Request(int64_t cpu, int num_gpu, int milli, ModelSet models = {}) {
  return {.cpu_milli = cpu,
          .memory_mib = 1024,
          .num_gpu = num_gpu,
          .gpu_milli = milli,
          .models = models};
}

TEST(Cluster, CreateCountsCapacityAndInternsModels) {
  Cluster cluster = TwoNodes();
  EXPECT_EQ(cluster.gpu_capacity_milli(), 10000);
  EXPECT_EQ(cluster.gpu_allocated_milli(), 0);
  EXPECT_EQ(cluster.models().size(), 2);
  EXPECT_EQ(cluster.node(1).model, *cluster.models().Find("G2"));
  EXPECT_EQ(cluster.models().Name(cluster.node(0).model), "T4");
  EXPECT_FALSE(cluster.models().Find("A100").has_value());
  EXPECT_EQ(cluster.node(1).GpuFreeMilli(), 8000);
  EXPECT_EQ(cluster.node(1).FullyFreeGpus(), 8);
}

TEST(Cluster, CreateRejectsDuplicateNamesAndBadSpecs) {
  EXPECT_EQ(Cluster::Create({{"n", 1000, 1, 1, "T4"}, {"n", 1000, 1, 1, "T4"}}).status().message(),
            "node 'n' appears twice");
  EXPECT_EQ(Cluster::Create({{"n", 1000, 1, 2, ""}}).status().message(),
            "node 'n': has 2 GPUs but no GPU model");
  EXPECT_EQ(Cluster::Create({{"n", 1000, 1, 17, "T4"}}).status().message(),
            "node 'n': gpu 17 is outside 0..16");
}

TEST(Cluster, ResolveMapsModelNamesAndDropsUnknownOnes) {
  Cluster cluster = TwoNodes();
  Result<PodRequest> typed = cluster.Resolve({.name = "p",
                                              .cpu_milli = 1000,
                                              .num_gpu = 1,
                                              .gpu_milli = 500,
                                              .gpu_models = {"G2", "A100"}});
  ASSERT_TRUE(typed.ok());
  EXPECT_FALSE(typed->models.any);
  EXPECT_TRUE(typed->models.Contains(*cluster.models().Find("G2")));
  EXPECT_FALSE(typed->models.Contains(*cluster.models().Find("T4")));

  Result<PodRequest> nowhere =
      cluster.Resolve({.name = "p", .num_gpu = 1, .gpu_milli = 500, .gpu_models = {"A100"}});
  ASSERT_TRUE(nowhere.ok());
  EXPECT_FALSE(nowhere->models.any);
  EXPECT_EQ(nowhere->models.mask, 0u);
  EXPECT_FALSE(Fits(cluster.node(1), *nowhere));

  // A CPU-only pod ignores a model list: it uses no GPU.
  Result<PodRequest> cpu_only = cluster.Resolve({.name = "c", .gpu_models = {"A100"}});
  ASSERT_TRUE(cpu_only.ok());
  EXPECT_TRUE(cpu_only->models.any);
}

TEST(Fits, ChecksCpuMemoryModelAndEnoughRoomyGpus) {
  Cluster cluster = TwoNodes();
  const Node& t4 = cluster.node(0);
  EXPECT_TRUE(Fits(t4, Request(16000, 2, 1000)));
  EXPECT_FALSE(Fits(t4, Request(16001, 0, 0)));
  EXPECT_FALSE(Fits(t4, Request(1000, 3, 1000)));
  PodRequest too_much_memory = Request(1000, 0, 0);
  too_much_memory.memory_mib = 65537;
  EXPECT_FALSE(Fits(t4, too_much_memory));
  EXPECT_FALSE(Fits(t4, Request(1000, 1, 500, ModelSet{.any = false, .mask = 0b10})));
  EXPECT_TRUE(Fits(t4, Request(1000, 1, 500, ModelSet{.any = false, .mask = 0b01})));

  ASSERT_TRUE(cluster.Allocate(0, Request(1000, 1, 700), 0b01).ok());
  const Node& used = cluster.node(0);
  EXPECT_TRUE(Fits(used, Request(1000, 1, 300)));   // GPU 0 has 300 left
  EXPECT_FALSE(Fits(used, Request(1000, 2, 400)));  // only GPU 1 has 400
  EXPECT_TRUE(Fits(used, Request(1000, 1, 1000)));
}

TEST(Cluster, AllocateAndReleaseTrackResourcesKindsAndVersion) {
  Cluster cluster = TwoNodes();
  const PodRequest sharing = Request(4000, 1, 300);
  const PodRequest two = Request(8000, 2, 1000);
  ASSERT_TRUE(cluster.Allocate(1, sharing, 0b100).ok());
  ASSERT_TRUE(cluster.Allocate(1, two, 0b011).ok());
  const Node& node = cluster.node(1);
  EXPECT_EQ(node.cpu_milli_free, 96000 - 12000);
  EXPECT_EQ(node.memory_mib_free, 393216 - 2048);
  EXPECT_EQ(node.gpu_free_milli[0], 0);
  EXPECT_EQ(node.gpu_free_milli[2], 700);
  EXPECT_EQ(node.gpu_pods_by_kind[0], 1);
  EXPECT_EQ(node.gpu_pods_by_kind[2], 1);
  EXPECT_EQ(node.version, 2u);
  EXPECT_EQ(cluster.gpu_allocated_milli(), 2300);

  ASSERT_TRUE(cluster.Release(1, two, 0b011).ok());
  EXPECT_EQ(cluster.node(1).gpu_free_milli[0], 1000);
  EXPECT_EQ(cluster.node(1).gpu_pods_by_kind[2], 0);
  EXPECT_EQ(cluster.gpu_allocated_milli(), 300);
  EXPECT_EQ(cluster.node(1).version, 3u);
}

TEST(Cluster, AllocateRejectsWrongGpuSetsWithoutChangingAnything) {
  Cluster cluster = TwoNodes();
  ASSERT_TRUE(cluster.Allocate(0, Request(1000, 1, 800), 0b01).ok());
  EXPECT_EQ(cluster.Allocate(0, Request(1000, 1, 300), 0b01).code(),
            StatusCode::kFailedPrecondition);  // GPU 0 has only 200 left
  EXPECT_EQ(cluster.Allocate(0, Request(1000, 1, 300), 0b11).code(),
            StatusCode::kFailedPrecondition);  // two GPUs for a one-GPU pod
  EXPECT_EQ(cluster.Allocate(0, Request(1000, 1, 300), 0b100).code(),
            StatusCode::kFailedPrecondition);  // the node has no GPU 2
  EXPECT_EQ(cluster.Allocate(0, Request(99000, 0, 0), 0).code(),
            StatusCode::kFailedPrecondition);  // not enough CPU
  EXPECT_EQ(cluster.Allocate(5, Request(1000, 0, 0), 0).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(cluster.node(0).version, 1u);
  EXPECT_EQ(cluster.gpu_allocated_milli(), 800);
  EXPECT_EQ(cluster.Release(0, Request(1000, 1, 300), 0b10).code(),
            StatusCode::kFailedPrecondition);  // GPU 1 would exceed its capacity
}

TEST(GpuChoice, FirstFullyFreeAndTightestFit) {
  Cluster cluster = TwoNodes();
  ASSERT_TRUE(cluster.Allocate(1, Request(0, 1, 1000), 0b0001).ok());
  ASSERT_TRUE(cluster.Allocate(1, Request(0, 1, 600), 0b0100).ok());
  ASSERT_TRUE(cluster.Allocate(1, Request(0, 1, 700), 0b1000).ok());
  const Node& node = cluster.node(1);  // free: 0, 1000, 400, 300, 1000, ...
  EXPECT_EQ(FirstFullyFreeGpus(node, Request(0, 2, 1000)), 0b10010u);
  EXPECT_EQ(TightestFittingGpu(node, Request(0, 1, 250)), 0b1000u);
  EXPECT_EQ(TightestFittingGpu(node, Request(0, 1, 350)), 0b0100u);
  EXPECT_EQ(TightestFittingGpu(node, Request(0, 1, 500)), 0b0010u);  // lowest full GPU
}

}  // namespace
}  // namespace gpuslice::replay
