#include "preload/internal/region_file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

namespace gpuslice::preload::internal {
namespace {

using core::region::kRegionSize;

class RegionFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/gpuslice-region-XXXXXX";
    directory_ = mkdtemp(pattern);
    path_ = directory_ + "/region";
  }
  void TearDown() override { std::filesystem::remove_all(directory_); }
  void CreateEmpty() { close(open(path_.c_str(), O_CREAT | O_WRONLY, 0666)); }
  uint64_t FileSize() { return std::filesystem::file_size(path_); }

  std::string directory_;
  std::string path_;
};

TEST_F(RegionFileTest, FirstUserLaysOutTheEmptyFile) {
  CreateEmpty();
  auto mapping = RegionMapping::MapShared(path_);
  ASSERT_TRUE(mapping.ok()) << mapping.status().ToString();
  EXPECT_EQ(FileSize(), kRegionSize);
  EXPECT_TRUE(core::region::CheckLayout(mapping->region(), kRegionSize).ok());

  mapping->region()->devices[3].used_bytes = 42;
  auto second = RegionMapping::MapShared(path_);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->region()->devices[3].used_bytes.load(), 42u);  // not laid out again
}

TEST_F(RegionFileTest, ConcurrentFirstUsersAgreeOnOneLayout) {
  CreateEmpty();
  constexpr int kUsers = 6;
  pid_t users[kUsers];
  for (pid_t& user : users) {
    user = fork();
    if (user == 0) {
      auto mapping = RegionMapping::MapShared(path_);
      if (!mapping.ok()) _exit(1);
      mapping->region()->devices[0].used_bytes.fetch_add(1);
      _exit(0);
    }
  }
  for (pid_t user : users) {
    int status = 0;
    waitpid(user, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  auto mapping = RegionMapping::MapShared(path_);
  ASSERT_TRUE(mapping.ok());
  // A second layout would have wiped earlier users' counts.
  EXPECT_EQ(mapping->region()->devices[0].used_bytes.load(), static_cast<uint64_t>(kUsers));
}

TEST_F(RegionFileTest, LayoutLeftUnfinishedByADeadUserIsRedone) {
  CreateEmpty();
  ASSERT_EQ(truncate(path_.c_str(), kRegionSize), 0);  // sized, header never written
  auto mapping = RegionMapping::MapShared(path_);
  ASSERT_TRUE(mapping.ok()) << mapping.status().ToString();
  EXPECT_TRUE(core::region::CheckLayout(mapping->region(), kRegionSize).ok());
}

TEST_F(RegionFileTest, AnotherLayoutVersionIsLeftAlone) {
  {
    CreateEmpty();
    auto mapping = RegionMapping::MapShared(path_);
    ASSERT_TRUE(mapping.ok());
    mapping->region()->header.version = core::region::kLayoutVersion + 1;
  }
  auto mapping = RegionMapping::MapShared(path_);
  ASSERT_FALSE(mapping.ok());
  EXPECT_NE(mapping.status().message().find(path_), std::string::npos);
  EXPECT_NE(mapping.status().message().find("version"), std::string::npos);
}

TEST_F(RegionFileTest, ForeignFileIsRefused) {
  std::ofstream(path_) << "not a region";
  auto mapping = RegionMapping::MapShared(path_);
  ASSERT_FALSE(mapping.ok());
  EXPECT_EQ(mapping.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(FileSize(), 12u);  // untouched
}

TEST_F(RegionFileTest, MissingFileIsNotFound) {
  auto mapping = RegionMapping::MapShared(path_);
  ASSERT_FALSE(mapping.ok());
  EXPECT_EQ(mapping.status().code(), StatusCode::kNotFound);
  EXPECT_NE(mapping.status().message().find(path_), std::string::npos);
}

TEST(PrivateRegion, IsLaidOut) {
  auto mapping = RegionMapping::MapPrivate();
  ASSERT_TRUE(mapping.ok());
  EXPECT_TRUE(core::region::CheckLayout(mapping->region(), kRegionSize).ok());
}

}  // namespace
}  // namespace gpuslice::preload::internal
