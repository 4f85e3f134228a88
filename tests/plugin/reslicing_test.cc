#include "plugin/reslicing.h"

#include <gtest/gtest.h>

#include "fakes/fake_gpu_backend.h"

namespace gpuslice::plugin {
namespace {

constexpr uint64_t kGiB = uint64_t{1} << 30;

core::SlicingProfile Profile(int slices, const std::string& resource = "nvidia.com/gpu") {
  core::SlicingProfile profile;
  profile.name = "p";
  profile.slices = slices;
  profile.resource_name = resource;
  return profile;
}

class ReslicingTest : public ::testing::Test {
 protected:
  ReslicingTest()
      : gpus_{testing::MakeGpu(0, "Tesla T4", 16 * kGiB), testing::MakeGpu(1, "Tesla T4", 16 * kGiB)} {}

  std::vector<core::GpuInfo> gpus_;
};

TEST(GpusOf, NamesTheGpusOfEveryListedDevice) {
  EXPECT_EQ(GpusOf({{"nvidia.com/gpu", {"GPU-a::0", "GPU-b::3"}},
                    {"gpuslice.io/slice", {"GPU-a::1", "not-a-slice-id"}}}),
            (std::set<std::string>{"GPU-a", "GPU-b"}));
}

TEST(SameSlicing, ComparesWhatLimitsDependOn) {
  core::SlicingProfile a = Profile(4);
  core::SlicingProfile b = Profile(4);
  b.enforce_compute = !a.enforce_compute;
  b.name = "other";
  EXPECT_TRUE(SameSlicing(a, b));
  b.reserved_memory_bytes = kGiB;
  EXPECT_FALSE(SameSlicing(a, b));
  EXPECT_FALSE(SameSlicing(a, Profile(4, "gpuslice.io/slice")));
  EXPECT_FALSE(SameSlicing(a, Profile(2)));
}

TEST_F(ReslicingTest, KeepsTheCurrentSlicingOfBusyGpusOnly) {
  const core::SlicingProfile four = Profile(4);
  core::Config config;
  config.default_profile = four;
  Result<Inventory> current = Inventory::Build(config, gpus_);
  ASSERT_TRUE(current.ok()) << current.status().ToString();

  core::SlicingProfile eight = Profile(8);
  eight.enforce_compute = false;
  const std::vector<const core::SlicingProfile*> assigned = {&eight, &eight};
  const auto kept = ProfilesToKeep(gpus_, assigned, &*current, {}, {gpus_[1].uuid});
  ASSERT_EQ(kept.size(), 1u);
  const core::SlicingProfile& t4 = kept.at(gpus_[1].uuid);
  EXPECT_EQ(t4.slices, 4);
  EXPECT_FALSE(t4.enforce_compute);  // settings that do not change limits follow at once

  // Nothing changes for a busy GPU whose slicing stays.
  EXPECT_TRUE(ProfilesToKeep(gpus_, {&four, &four}, &*current, {}, {gpus_[0].uuid}).empty());
}

// Right after a restart the plugin has no slicing of its own: the newest record of a live
// allocation on the GPU says what its containers were promised.
TEST_F(ReslicingTest, ARestartedPluginReadsTheSlicingFromTheRecords) {
  std::vector<AllocationRecord> records(2);
  records[0].resource = "nvidia.com/gpu";
  records[0].gpus = {{gpus_[0].uuid, 2, 0}};
  records[1].resource = "gpuslice.io/slice";
  records[1].gpus = {{gpus_[0].uuid, 4, kGiB}};
  const core::SlicingProfile eight = Profile(8);
  const auto kept = ProfilesToKeep(gpus_, {&eight, &eight}, nullptr, records,
                                   {gpus_[0].uuid, gpus_[1].uuid});
  ASSERT_EQ(kept.size(), 1u);  // GPU 1 has no record: nothing to keep
  const core::SlicingProfile& t4 = kept.at(gpus_[0].uuid);
  EXPECT_EQ(t4.slices, 4);
  EXPECT_EQ(t4.reserved_memory_bytes, kGiB);
  EXPECT_EQ(t4.resource_name, "gpuslice.io/slice");
}

}  // namespace
}  // namespace gpuslice::plugin
