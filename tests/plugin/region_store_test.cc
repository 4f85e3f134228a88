#include "plugin/region_store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "fakes/fake_clock.h"
#include "fakes/temp_dir.h"

namespace gpuslice::plugin {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

class RegionStoreTest : public ::testing::Test {
 protected:
  RegionStoreTest() : store_(RegionStoreOptions{dir_.Sub("regions"), 120s, 60s}, clock_) {}

  std::string Create(const std::string& resource, std::vector<std::string> ids,
                     std::vector<RecordedSlicing> gpus = {}) {
    Result<std::string> created = store_.Create(resource, ids, gpus, "version 1\n");
    EXPECT_TRUE(created.ok()) << created.status().ToString();
    clock_.Advance(1ms);  // distinct creation times
    return created.value_or("");
  }

  testing::TempDir dir_;
  testing::FakeClock clock_;
  RegionStore store_;
};

TEST_F(RegionStoreTest, CreatesUniqueDirectoriesPerAllocation) {
  const std::string a = Create("nvidia.com/gpu", {"GPU-a::0"});
  const std::string b = Create("nvidia.com/gpu", {"GPU-a::0"});
  EXPECT_NE(a, b);
  EXPECT_TRUE(fs::exists(a + "/region"));
  EXPECT_TRUE(fs::exists(b + "/allocation.json"));
}

TEST_F(RegionStoreTest, KeepsTheLimitsFileInADirectoryOfItsOwnThatOnlyRootWrites) {
  const std::string directory = Create("nvidia.com/gpu", {"GPU-a::0"});
  std::ifstream limits(directory + "/limits/limits");
  std::string first_line;
  std::getline(limits, first_line);
  EXPECT_EQ(first_line, "version 1");
  const auto permissions = [](const std::string& path) {
    return fs::status(path).permissions() & fs::perms::all;
  };
  using P = fs::perms;
  const P directory_mode =
      P::owner_all | P::group_read | P::group_exec | P::others_read | P::others_exec;
  EXPECT_EQ(permissions(directory + "/limits"), directory_mode);
  EXPECT_EQ(permissions(directory + "/limits/limits"),
            P::owner_read | P::owner_write | P::group_read | P::others_read);
  // Nothing in a container can add files beside the record: only the region file is mounted.
  EXPECT_EQ(permissions(directory), directory_mode);
}

TEST_F(RegionStoreTest, RecordsTheSlicingOfEveryGpu) {
  const std::string directory = Create("nvidia.com/gpu", {"GPU-a::0", "GPU-b::3"},
                                       {{"GPU-a", 4, 0}, {"GPU-b", 8, 1ull << 30}});
  const std::vector<AllocationRecord> records = store_.Records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].directory, directory);
  EXPECT_EQ(records[0].resource, "nvidia.com/gpu");
  EXPECT_EQ(records[0].device_ids, (std::vector<std::string>{"GPU-a::0", "GPU-b::3"}));
  ASSERT_EQ(records[0].gpus.size(), 2u);
  EXPECT_EQ(records[0].gpus[1].gpu_uuid, "GPU-b");
  EXPECT_EQ(records[0].gpus[1].slices, 8);
  EXPECT_EQ(records[0].gpus[1].reserved_memory_bytes, 1ull << 30);
}

TEST_F(RegionStoreTest, RemovesOnlyDeadAllocationsPastTheGracePeriod) {
  const std::string live = Create("nvidia.com/gpu", {"GPU-a::1", "GPU-a::0"});
  const std::string dead = Create("nvidia.com/gpu", {"GPU-b::0"});
  const std::string other_resource = Create("gpuslice.io/slice", {"GPU-a::1", "GPU-a::0"});
  // The kubelet lists device IDs in its own order.
  const std::vector<LiveAllocation> listed = {{"nvidia.com/gpu", {"GPU-a::0", "GPU-a::1"}}};

  EXPECT_EQ(*store_.CollectGarbage(listed), 0);  // everything is still young
  clock_.Advance(121s);
  EXPECT_EQ(*store_.CollectGarbage(listed), 0);  // first miss: not yet confirmed
  clock_.Advance(61s);
  EXPECT_EQ(*store_.CollectGarbage(listed), 2);
  EXPECT_TRUE(fs::exists(live));
  EXPECT_FALSE(fs::exists(dead));
  EXPECT_FALSE(fs::exists(other_resource));
}

TEST_F(RegionStoreTest, KeepsOnlyTheNewestDirectoryOfReusedDevices) {
  const std::string old_pod = Create("nvidia.com/gpu", {"GPU-a::0"});
  clock_.Advance(200s);
  const std::string new_pod = Create("nvidia.com/gpu", {"GPU-a::0"});
  EXPECT_EQ(*store_.CollectGarbage({{"nvidia.com/gpu", {"GPU-a::0"}}}), 0);
  clock_.Advance(61s);
  EXPECT_EQ(*store_.CollectGarbage({{"nvidia.com/gpu", {"GPU-a::0"}}}), 1);
  EXPECT_FALSE(fs::exists(old_pod));
  EXPECT_TRUE(fs::exists(new_pod));
}

// A kubelet that has just restarted may list only some of its pods; one listing that
// misses an allocation must not delete the region its running container is using.
TEST_F(RegionStoreTest, KeepsAnAllocationThatReappearsBeforeTheMissIsConfirmed) {
  const std::string directory = Create("nvidia.com/gpu", {"GPU-a::0"});
  const std::vector<LiveAllocation> full = {{"nvidia.com/gpu", {"GPU-a::0"}}};
  clock_.Advance(10min);
  EXPECT_EQ(*store_.CollectGarbage({}), 0);    // incomplete listing
  clock_.Advance(30s);
  EXPECT_EQ(*store_.CollectGarbage(full), 0);  // the kubelet has caught up
  clock_.Advance(10min);
  EXPECT_EQ(*store_.CollectGarbage({}), 0);    // a new miss starts a new confirmation
  EXPECT_TRUE(fs::exists(directory));
  clock_.Advance(61s);
  EXPECT_EQ(*store_.CollectGarbage({}), 1);
  EXPECT_FALSE(fs::exists(directory));
}

TEST_F(RegionStoreTest, LeavesDirectoriesItCannotReadAlone) {
  const std::string mine = Create("nvidia.com/gpu", {"GPU-a::0"});
  fs::create_directories(dir_.Sub("regions/alloc-foreign"));
  std::ofstream(dir_.Sub("regions/alloc-foreign/allocation.json")) << "{not json";
  fs::create_directories(dir_.Sub("regions/unrelated"));
  clock_.Advance(1h);
  EXPECT_EQ(*store_.CollectGarbage({}), 0);
  clock_.Advance(1h);
  EXPECT_EQ(*store_.CollectGarbage({}), 1);
  EXPECT_FALSE(fs::exists(mine));
  EXPECT_TRUE(fs::exists(dir_.Sub("regions/alloc-foreign")));
  EXPECT_TRUE(fs::exists(dir_.Sub("regions/unrelated")));
}

TEST(RegionStore, ReportsAnUnwritableRoot) {
  testing::FakeClock clock;
  testing::TempDir dir;
  std::ofstream(dir.Sub("file")) << "x";
  RegionStore store(RegionStoreOptions{dir.Sub("file/regions")}, clock);
  Result<std::string> created = store.Create("nvidia.com/gpu", {"GPU-a::0"}, {}, "version 1\n");
  ASSERT_FALSE(created.ok());
  EXPECT_NE(created.status().message().find(dir.Sub("file/regions")), std::string::npos);
}

}  // namespace
}  // namespace gpuslice::plugin
