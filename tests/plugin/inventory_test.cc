#include "plugin/inventory.h"

#include <gtest/gtest.h>

#include "fakes/fake_gpu_backend.h"

namespace gpuslice::plugin {
namespace {

using testing::MakeGpu;
constexpr uint64_t kGiB = uint64_t{1} << 30;

core::Config TwoProfiles() {
  Result<core::Config> config = core::ParseConfig(R"(version: v1
profiles:
- name: h100
  match: {models: ["*H100*"]}
  slices: 4
  resourceName: gpuslice.io/slice
- name: t4
  match: {models: ["*T4"]}
  slices: 2
)",
                                                  "c.yaml");
  EXPECT_TRUE(config.ok()) << config.status().ToString();
  return *config;
}

TEST(Inventory, AssignsProfilesAndOrdersGpusByIndex) {
  Result<Inventory> inventory = Inventory::Build(
      TwoProfiles(), {MakeGpu(2, "NVIDIA A10G", 24 * kGiB), MakeGpu(0, "NVIDIA H100 80GB HBM3", 80 * kGiB),
                      MakeGpu(1, "Tesla T4", 16 * kGiB)});
  ASSERT_TRUE(inventory.ok()) << inventory.status().ToString();
  ASSERT_EQ(inventory->gpus().size(), 3u);
  EXPECT_EQ(inventory->gpus()[0].profile.name, "h100");
  EXPECT_EQ(inventory->gpus()[1].profile.name, "t4");
  EXPECT_EQ(inventory->gpus()[2].profile.slices, 1);  // default profile
  EXPECT_EQ(inventory->ResourceNames(),
            (std::vector<std::string>{"gpuslice.io/slice", "nvidia.com/gpu"}));
  EXPECT_EQ(inventory->GpusOf("nvidia.com/gpu"), (std::vector<size_t>{1, 2}));
}

TEST(Inventory, ResolvesOnlyIdsOfTheResource) {
  const core::GpuInfo h100 = MakeGpu(0, "NVIDIA H100 80GB HBM3", 80 * kGiB);
  const core::GpuInfo t4 = MakeGpu(1, "Tesla T4", 16 * kGiB);
  Result<Inventory> inventory = Inventory::Build(TwoProfiles(), {h100, t4});
  ASSERT_TRUE(inventory.ok());
  Result<SliceRef> ref = inventory->Resolve("gpuslice.io/slice", h100.uuid + "::3");
  ASSERT_TRUE(ref.ok());
  EXPECT_EQ(ref->gpu, 0u);
  EXPECT_EQ(ref->slice, 3);
  EXPECT_NE(inventory->Resolve("gpuslice.io/slice", h100.uuid + "::4").status().message().find(
                "beyond the 4 slices"),
            std::string::npos);
  EXPECT_NE(inventory->Resolve("gpuslice.io/slice", t4.uuid + "::0").status().message().find(
                "belongs to resource nvidia.com/gpu"),
            std::string::npos);
  EXPECT_EQ(inventory->Resolve("gpuslice.io/slice", "GPU-nope::0").status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(inventory->Resolve("gpuslice.io/slice", "garbage").status().code(),
            StatusCode::kNotFound);
}

TEST(Inventory, RejectsAProfileThatLeavesNoMemory) {
  core::Config config;
  config.default_profile.reserved_memory_bytes = 32 * kGiB;
  Result<Inventory> inventory = Inventory::Build(config, {MakeGpu(0, "Tesla T4", 16 * kGiB)});
  ASSERT_FALSE(inventory.ok());
  EXPECT_NE(inventory.status().message().find(
                "profile \"defaultProfile\": reservedMemory 32Gi is not less than the GPU's "
                "memory (16Gi)"),
            std::string::npos)
      << inventory.status().message();
}

TEST(Inventory, RejectsGpusMatchedTwice) {
  Result<core::Config> config = core::ParseConfig(
      "version: v1\nprofiles:\n- name: a\n  match: {models: ['*']}\n- name: b\n  match: {indices: "
      "[0]}\n",
      "c.yaml");
  ASSERT_TRUE(config.ok());
  EXPECT_FALSE(Inventory::Build(*config, {MakeGpu(0, "Tesla T4", 16 * kGiB)}).ok());
}

}  // namespace
}  // namespace gpuslice::plugin
