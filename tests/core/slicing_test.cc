#include "core/slicing.h"

#include <gtest/gtest.h>

namespace gpuslice::core {
namespace {

GpuInfo Gpu(int index, std::string uuid, std::string name, uint64_t memory) {
  GpuInfo gpu;
  gpu.index = index;
  gpu.uuid = std::move(uuid);
  gpu.name = std::move(name);
  gpu.memory_bytes = memory;
  return gpu;
}

constexpr uint64_t kGiB = uint64_t{1} << 30;

TEST(GpuSelector, MatchesModelGlobsCaseInsensitively) {
  GpuSelector selector;
  selector.models = {"*a10g*"};
  EXPECT_TRUE(selector.Matches(Gpu(0, "GPU-a", "NVIDIA A10G", 24 * kGiB)));
  EXPECT_FALSE(selector.Matches(Gpu(0, "GPU-a", "Tesla T4", 16 * kGiB)));
}

TEST(GpuSelector, MatchesIndicesAndUuids) {
  GpuSelector by_index;
  by_index.indices = {1, 3};
  EXPECT_TRUE(by_index.Matches(Gpu(3, "GPU-x", "Tesla T4", kGiB)));
  EXPECT_FALSE(by_index.Matches(Gpu(2, "GPU-x", "Tesla T4", kGiB)));
  GpuSelector by_uuid;
  by_uuid.uuids = {"GPU-x"};
  EXPECT_TRUE(by_uuid.Matches(Gpu(9, "GPU-x", "Tesla T4", kGiB)));
  EXPECT_FALSE(by_uuid.Matches(Gpu(9, "GPU-y", "Tesla T4", kGiB)));
}

TEST(LimitsForSlices, SplitsUsableMemoryAndComputeEqually) {
  SlicingProfile profile;
  profile.slices = 4;
  profile.reserved_memory_bytes = kGiB;
  SliceLimits one = LimitsForSlices(profile, 81 * kGiB, 1);
  EXPECT_EQ(one.memory_bytes, 20 * kGiB);
  EXPECT_EQ(one.compute_percent, 25);
  SliceLimits three = LimitsForSlices(profile, 81 * kGiB, 3);
  EXPECT_EQ(three.memory_bytes, 60 * kGiB);
  EXPECT_EQ(three.compute_percent, 75);
}

TEST(LimitsForSlices, RoundsDownAndNeverUnderflows) {
  SlicingProfile profile;
  profile.slices = 3;
  EXPECT_EQ(LimitsForSlices(profile, 10, 1).memory_bytes, 3u);
  EXPECT_EQ(LimitsForSlices(profile, 10, 1).compute_percent, 33);
  EXPECT_EQ(LimitsForSlices(profile, 10, 3).compute_percent, 100);
  profile.reserved_memory_bytes = 100;
  EXPECT_EQ(LimitsForSlices(profile, 10, 1).memory_bytes, 0u);
}

TEST(LimitsForSlices, UnenforcedComputeIsAHundredPercent) {
  SlicingProfile profile;
  profile.slices = 8;
  profile.enforce_compute = false;
  EXPECT_EQ(LimitsForSlices(profile, kGiB, 1).compute_percent, 100);
  profile.enforce_compute = true;
  profile.slices = 64;
  EXPECT_EQ(LimitsForSlices(profile, kGiB, 1).compute_percent, 1);
}

TEST(CheckSliceMemory, RefusesReservedMemoryAtOrAboveTheGpusMemory) {
  SlicingProfile profile;
  profile.slices = 4;
  profile.reserved_memory_bytes = uint64_t{16} << 30;
  EXPECT_EQ(CheckSliceMemory(profile, uint64_t{16} << 30).message(),
            "reservedMemory 16Gi is not less than the GPU's memory (16Gi)");
  EXPECT_EQ(CheckSliceMemory(profile, uint64_t{15} << 30).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckSliceMemory(profile, (uint64_t{16} << 30) + 3).message(),
            "reservedMemory 16Gi leaves less than one byte for each of 4 slices");
  EXPECT_TRUE(CheckSliceMemory(profile, (uint64_t{16} << 30) + 4).ok());
  profile.reserved_memory_bytes = 0;
  EXPECT_TRUE(CheckSliceMemory(profile, 4).ok());
}

TEST(DeviceId, RoundTripsAndFitsTheKubeletLimit) {
  const std::string uuid = "GPU-fef8089b-4820-abfc-e83e-94318197576e";
  const std::string id = MakeDeviceId(uuid, kMaxSlicesPerGpu - 1);
  EXPECT_EQ(id, uuid + "::63");
  EXPECT_LE(id.size(), kMaxDeviceIdLength);
  Result<DeviceIdParts> parts = ParseDeviceId(id);
  ASSERT_TRUE(parts.ok());
  EXPECT_EQ(parts->gpu_uuid, uuid);
  EXPECT_EQ(parts->slice, 63);
}

TEST(DeviceId, RejectsMalformedIds) {
  for (const char* id : {"", "GPU-a", "GPU-a::", "::3", "GPU-a::-1", "GPU-a::x", "GPU-a::1x",
                         "GPU-a:3", "GPU-a::99999999999999999999"}) {
    SCOPED_TRACE(id);
    Result<DeviceIdParts> parts = ParseDeviceId(id);
    ASSERT_FALSE(parts.ok());
    EXPECT_NE(parts.status().message().find('"' + std::string(id) + '"'), std::string::npos);
  }
}

TEST(ValidateResourceName, AcceptsExtendedResourceNames) {
  for (const char* name : {"nvidia.com/gpu", "gpuslice.io/slice", "example.com/a_b.c-d",
                           "a/B", "gpuslice.io/slice-10gb"}) {
    EXPECT_TRUE(ValidateResourceName(name).ok()) << name;
  }
}

TEST(ValidateResourceName, RejectsWhatTheKubeletRejects) {
  for (const char* name : {"gpu", "kubernetes.io/gpu", "node.kubernetes.io/gpu", "requests.x/gpu",
                           "Nvidia.com/gpu", "nvidia.com/", "nvidia.com/-gpu", "nvidia..com/gpu",
                           "/gpu", "nvidia.com/gpu/x",
                           "nvidia.com/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}) {
    Status status = ValidateResourceName(name);
    EXPECT_FALSE(status.ok()) << name;
    EXPECT_NE(status.message().find(name), std::string::npos) << status.message();
  }
}

}  // namespace
}  // namespace gpuslice::core
