// The simulated node end to end: the real plugin on the simulated NVML, the kubelet stand-in,
// pods from manifests; outcomes computed by hand from the profiles.
#include "nodesim/node_sim.h"

#include <gtest/gtest.h>

#include "nodesim/node_sim_fixture.h"

namespace gpuslice::nodesim {
namespace {

TEST_F(NodeSimTest, PacksSlicesAndRejectsWhatDoesNotFit) {
  auto node = Start(
      "version: v1\nprofiles:\n- name: t4\n  match: {models: ['*T4*']}\n  slices: 2\n", "2xT4");
  if (node == nullptr) GTEST_SKIP() << "simulated NVML or libgpuslice.so not built in " << kLibDir;
  NodeSimReport report = node->Run(
      Pods(Pod("a", "nvidia.com/gpu: 1") + Pod("b", "nvidia.com/gpu: 2") +
           Pod("c", "nvidia.com/gpu: 1") + Pod("d", "nvidia.com/gpu: 1") +
           Pod("e", "gpuslice.io/slice: 1") + Pod("f", "nvidia.com/gpu: 1", 2) +
           "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers:\n  - name: w\n")
          .pods);
  ASSERT_EQ(report.gpus.size(), 2u);
  EXPECT_EQ(report.gpus[0].slices, 2);
  EXPECT_EQ(report.gpus[0].slice_memory_bytes, report.gpus[0].gpu.memory_bytes / 2);
  EXPECT_EQ(report.gpus[0].slice_compute_percent, 50);

  // a: GPU 0 slice 0. b: needs a whole GPU, GPU 1. c: GPU 0's last slice. d: nothing left.
  ASSERT_EQ(report.placements.size(), 3u);
  EXPECT_EQ(report.placements[0].pod, "default/a");
  EXPECT_EQ(report.placements[0].gpus[0].index, 0);
  EXPECT_EQ(report.placements[1].pod, "default/b");
  ASSERT_EQ(report.placements[1].gpus.size(), 1u);
  EXPECT_EQ(report.placements[1].gpus[0].index, 1);
  EXPECT_EQ(report.placements[1].gpus[0].slices, 2);
  EXPECT_EQ(report.placements[1].gpus[0].memory_limit_bytes, report.gpus[1].slice_memory_bytes * 2);
  EXPECT_EQ(report.placements[1].gpus[0].compute_percent, 100);
  EXPECT_EQ(report.placements[2].pod, "default/c");
  EXPECT_EQ(report.placements[2].gpus[0].index, 0);
  EXPECT_GT(report.placements[2].gpus[0].memory_limit_bytes, 7000 * kMiB);

  ASSERT_EQ(report.unplaced.size(), 3u);
  EXPECT_EQ(report.unplaced[0].pod, "default/d");
  EXPECT_NE(report.unplaced[0].reason.find("insufficient nvidia.com/gpu"), std::string::npos);
  EXPECT_EQ(report.unplaced[1].pod, "default/e");
  EXPECT_NE(report.unplaced[1].reason.find("does not advertise"), std::string::npos);
  // f has two containers and nothing is free: rejected whole.
  EXPECT_EQ(report.unplaced[2].pod, "default/f");
  EXPECT_EQ(report.pods_without_gpus, 1);
}

TEST_F(NodeSimTest, RejectsAPodWholeWhenOnlyPartOfItFits) {
  auto node = Start("version: v1\ndefaultProfile: {slices: 4}\n", "1xA10G");
  if (node == nullptr) GTEST_SKIP() << "simulated NVML or libgpuslice.so not built in " << kLibDir;
  // Two containers of 3 slices: the second cannot fit, so the first's slices are freed again
  // and the next pod gets all four.
  NodeSimReport report =
      node->Run(Pods(Pod("pair", "nvidia.com/gpu: 3", 2) + Pod("next", "nvidia.com/gpu: 4")).pods);
  ASSERT_EQ(report.unplaced.size(), 1u);
  EXPECT_EQ(report.unplaced[0].pod, "default/pair");
  ASSERT_EQ(report.placements.size(), 1u);
  EXPECT_EQ(report.placements[0].pod, "default/next");
  EXPECT_EQ(report.placements[0].device_ids.size(), 4u);
}

TEST_F(NodeSimTest, RejectsAContainerAskingForTwoGpusliceResources) {
  auto node = Start(
      "version: v1\nprofiles:\n- name: t4\n  match: {indices: [1]}\n"
      "  resourceName: gpuslice.io/slice\n",
      "2xT4");
  if (node == nullptr) GTEST_SKIP() << "simulated NVML or libgpuslice.so not built in " << kLibDir;
  NodeSimReport report =
      node->Run(Pods(Pod("both", "nvidia.com/gpu: 1, gpuslice.io/slice: 1")).pods);
  EXPECT_TRUE(report.placements.empty());
  ASSERT_EQ(report.unplaced.size(), 1u);
  EXPECT_NE(report.unplaced[0].reason.find(
                "requests both gpuslice.io/slice and nvidia.com/gpu; a container can hold "
                "slices of one gpuslice resource only"),
            std::string::npos)
      << report.unplaced[0].reason;
}

// Tensor-parallel pods: each slice of a container on a GPU of its own, each with its limit.
TEST_F(NodeSimTest, DistinctGpusProfileSpreadsAPodsSlicesOverGpus) {
  auto node = Start("version: v1\ndefaultProfile: {slices: 2, distinctGpus: true}\n", "2xT4");
  if (node == nullptr) GTEST_SKIP() << "simulated NVML or libgpuslice.so not built in " << kLibDir;
  // tp3 first, while four slices are free: it fails for want of GPUs, not of slices.
  NodeSimReport report =
      node->Run(Pods(Pod("tp3", "nvidia.com/gpu: 3") + Pod("tp2", "nvidia.com/gpu: 2") +
                     Pod("one", "nvidia.com/gpu: 1"))
                    .pods);
  ASSERT_EQ(report.placements.size(), 2u);
  EXPECT_EQ(report.placements[0].pod, "default/tp2");
  ASSERT_EQ(report.placements[0].gpus.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    const VisibleGpu& gpu = report.placements[0].gpus[static_cast<size_t>(i)];
    EXPECT_EQ(gpu.index, i);
    EXPECT_EQ(gpu.slices, 1);
    EXPECT_EQ(gpu.memory_limit_bytes, report.gpus[static_cast<size_t>(i)].slice_memory_bytes);
    EXPECT_EQ(gpu.compute_percent, 50);
  }
  // Three distinct GPUs do not exist on a two-GPU node, however many slices are free.
  ASSERT_EQ(report.unplaced.size(), 1u);
  EXPECT_EQ(report.unplaced[0].pod, "default/tp3");
  EXPECT_NE(report.unplaced[0].reason.find("a GPU of its own"), std::string::npos)
      << report.unplaced[0].reason;
  EXPECT_EQ(report.placements[1].pod, "default/one");
}

TEST(NodeSim, ReportsAConfigThatDoesNotFitTheGpus) {
  if (!std::filesystem::exists(kLibDir + "/libgpuslice-sim-nvml.so")) {
    GTEST_SKIP() << "simulated NVML not built in " << kLibDir;
  }
  NodeSimOptions options;
  options.config.default_profile.reserved_memory_bytes = uint64_t{1} << 40;
  options.gpu_spec = "1xT4";
  options.nvml_library = kLibDir + "/libgpuslice-sim-nvml.so";
  options.library_dir = kLibDir;
  Result<std::unique_ptr<NodeSim>> node = NodeSim::Start(std::move(options));
  ASSERT_FALSE(node.ok());
  EXPECT_EQ(node.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace gpuslice::nodesim
