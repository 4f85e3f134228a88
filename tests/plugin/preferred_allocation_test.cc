#include "plugin/preferred_allocation.h"

#include <gtest/gtest.h>

#include "fakes/fake_gpu_backend.h"

namespace gpuslice::plugin {
namespace {

using core::AllocationPolicy;
using testing::MakeGpu;
constexpr uint64_t kGiB = uint64_t{1} << 30;
constexpr const char* kResource = "nvidia.com/gpu";

// Three GPUs of four slices each.
class PreferAllocationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    core::Config config;
    config.default_profile.slices = 4;
    Result<Inventory> built = Inventory::Build(
        config, {MakeGpu(0, "T4", 16 * kGiB), MakeGpu(1, "T4", 16 * kGiB), MakeGpu(2, "T4", 16 * kGiB)});
    ASSERT_TRUE(built.ok());
    inventory_ = std::move(*built);
  }
  std::string Id(int gpu, int slice) const {
    return core::MakeDeviceId(inventory_.gpus()[static_cast<size_t>(gpu)].gpu.uuid, slice);
  }
  // Every slice except those listed as in use.
  std::vector<std::string> AvailableExcept(const std::vector<std::pair<int, int>>& in_use) const {
    std::vector<std::string> ids;
    for (int g = 0; g < 3; ++g) {
      for (int s = 0; s < 4; ++s) {
        if (std::find(in_use.begin(), in_use.end(), std::pair{g, s}) == in_use.end()) {
          ids.push_back(Id(g, s));
        }
      }
    }
    return ids;
  }
  Result<std::vector<std::string>> Prefer(AllocationPolicy policy,
                                          const std::vector<std::string>& available,
                                          const std::vector<std::string>& must, int size) const {
    return PreferAllocation(inventory_, kResource, policy, available, must, size);
  }
  Inventory inventory_;
};

TEST_F(PreferAllocationTest, PackedFillsTheMostUsedGpuThatHoldsTheRequest) {
  // GPU 1 has one slice in use, GPU 2 three: a 1-slice request goes to GPU 2's last slice.
  auto available = AvailableExcept({{1, 0}, {2, 0}, {2, 1}, {2, 2}});
  EXPECT_EQ(*Prefer(AllocationPolicy::kPacked, available, {}, 1),
            (std::vector<std::string>{Id(2, 3)}));
  // Two slices do not fit on GPU 2 any more: GPU 1 (the most used that fits) takes them.
  EXPECT_EQ(*Prefer(AllocationPolicy::kPacked, available, {}, 2),
            (std::vector<std::string>{Id(1, 1), Id(1, 2)}));
}

TEST_F(PreferAllocationTest, SpreadPicksTheLeastUsedGpu) {
  auto available = AvailableExcept({{0, 0}, {2, 0}, {2, 1}});
  EXPECT_EQ(*Prefer(AllocationPolicy::kSpread, available, {}, 1),
            (std::vector<std::string>{Id(1, 0)}));
  // Spread still keeps a multi-slice request on one GPU.
  EXPECT_EQ(*Prefer(AllocationPolicy::kSpread, available, {}, 3),
            (std::vector<std::string>{Id(1, 0), Id(1, 1), Id(1, 2)}));
}

TEST_F(PreferAllocationTest, NeverStraddlesWhenOneGpuCanHoldTheRequest) {
  // Every GPU has two free slices except GPU 1 with four: a 4-slice request takes GPU 1 whole.
  auto available = AvailableExcept({{0, 0}, {0, 1}, {2, 2}, {2, 3}});
  for (AllocationPolicy policy : {AllocationPolicy::kPacked, AllocationPolicy::kSpread}) {
    EXPECT_EQ(*Prefer(policy, available, {}, 4),
              (std::vector<std::string>{Id(1, 0), Id(1, 1), Id(1, 2), Id(1, 3)}));
  }
}

TEST_F(PreferAllocationTest, StraddlesTheFewestGpusWhenItMust) {
  auto available = AvailableExcept({{0, 0}, {0, 1}, {0, 2}, {2, 3}});
  // Five slices: GPU 1 (4 free) plus one slice of GPU 2 (3 free), not GPU 0 (1 free).
  EXPECT_EQ(*Prefer(AllocationPolicy::kPacked, available, {}, 5),
            (std::vector<std::string>{Id(1, 0), Id(1, 1), Id(1, 2), Id(1, 3), Id(2, 0)}));
}

TEST_F(PreferAllocationTest, HonoursMustIncludeAndStaysOnItsGpu) {
  auto available = AvailableExcept({});
  for (AllocationPolicy policy : {AllocationPolicy::kPacked, AllocationPolicy::kSpread}) {
    Result<std::vector<std::string>> chosen = Prefer(policy, available, {Id(2, 1)}, 3);
    ASSERT_TRUE(chosen.ok());
    EXPECT_EQ(*chosen, (std::vector<std::string>{Id(2, 0), Id(2, 1), Id(2, 2)}));
  }
}

TEST_F(PreferAllocationTest, ReportsInconsistentRequests) {
  auto available = AvailableExcept({});
  EXPECT_EQ(Prefer(AllocationPolicy::kPacked, available, {}, 0).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(Prefer(AllocationPolicy::kPacked, available, {Id(0, 0), Id(0, 1)}, 1).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(Prefer(AllocationPolicy::kPacked, {Id(0, 0)}, {}, 2).status().code(),
            StatusCode::kResourceExhausted);
  Result<std::vector<std::string>> unknown =
      Prefer(AllocationPolicy::kPacked, {Id(0, 0), Id(0, 1)}, {"GPU-x::0"}, 1);
  ASSERT_EQ(unknown.status().code(), StatusCode::kNotFound);
  EXPECT_NE(unknown.status().message().find("GPU-x::0"), std::string::npos);
}

// Right after a reload the kubelet may still offer devices of the previous slicing.
TEST_F(PreferAllocationTest, PassesOverAvailableDevicesItNoLongerHas) {
  EXPECT_EQ(*Prefer(AllocationPolicy::kPacked, {"GPU-x::0", Id(0, 1)}, {}, 1),
            (std::vector<std::string>{Id(0, 1)}));
  EXPECT_EQ(Prefer(AllocationPolicy::kPacked, {"GPU-x::0", "GPU-x::1"}, {}, 1).status().code(),
            StatusCode::kResourceExhausted);
}

// Tensor-parallel pods: each slice of the container on a GPU of its own.
class DistinctGpusTest : public PreferAllocationTest {
 protected:
  void SetUp() override {
    core::Config config;
    config.default_profile.slices = 4;
    config.default_profile.distinct_gpus = true;
    Result<Inventory> built = Inventory::Build(
        config,
        {MakeGpu(0, "T4", 16 * kGiB), MakeGpu(1, "T4", 16 * kGiB), MakeGpu(2, "T4", 16 * kGiB)});
    ASSERT_TRUE(built.ok());
    inventory_ = std::move(*built);
  }
};

TEST_F(DistinctGpusTest, TakesOneSliceOfEachOfKGpusChosenByThePolicy) {
  // GPU 2 is the most used, GPU 0 the least.
  auto available = AvailableExcept({{1, 0}, {2, 0}, {2, 1}});
  EXPECT_EQ(*Prefer(AllocationPolicy::kPacked, available, {}, 2),
            (std::vector<std::string>{Id(1, 1), Id(2, 2)}));
  EXPECT_EQ(*Prefer(AllocationPolicy::kSpread, available, {}, 2),
            (std::vector<std::string>{Id(0, 0), Id(1, 1)}));
  EXPECT_EQ(*Prefer(AllocationPolicy::kPacked, available, {}, 3),
            (std::vector<std::string>{Id(0, 0), Id(1, 1), Id(2, 2)}));
  // A must-include slice keeps its GPU out of the rest of the answer.
  EXPECT_EQ(*Prefer(AllocationPolicy::kPacked, available, {Id(2, 3)}, 2),
            (std::vector<std::string>{Id(1, 1), Id(2, 3)}));
}

TEST_F(DistinctGpusTest, RefusesMoreSlicesThanGpusWithAFreeSliceNamingTheProfile) {
  // Six slices are free, but on two GPUs only: GPU 2 is full.
  auto available = AvailableExcept({{2, 0}, {2, 1}, {2, 2}, {2, 3}});
  Result<std::vector<std::string>> three = Prefer(AllocationPolicy::kPacked, available, {}, 3);
  ASSERT_EQ(three.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(three.status().message().find("profile \"defaultProfile\" gives each slice of a "
                                          "container a GPU of its own"),
            std::string::npos)
      << three.status().message();
  EXPECT_NE(three.status().message().find("only 2 can give one"), std::string::npos)
      << three.status().message();
  EXPECT_EQ(Prefer(AllocationPolicy::kPacked, available, {}, 4).status().code(),
            StatusCode::kResourceExhausted);
  EXPECT_EQ(Prefer(AllocationPolicy::kPacked, available, {Id(0, 0), Id(0, 1)}, 2).status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace gpuslice::plugin
