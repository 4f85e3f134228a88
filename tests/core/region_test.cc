#include "core/region.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <vector>

namespace gpuslice::core::region {
namespace {

std::vector<unsigned char> Blank() { return std::vector<unsigned char>(kRegionSize, 0); }

void WriteHeader(std::vector<unsigned char>& bytes, const Header& header) {
  std::memcpy(bytes.data(), &header, sizeof(header));
}

TEST(RegionLayout, CurrentHeaderPassesCheck) {
  std::vector<unsigned char> bytes = Blank();
  WriteHeader(bytes, CurrentHeader());
  EXPECT_TRUE(CheckLayout(bytes.data(), bytes.size()).ok());
}

TEST(RegionLayout, EmptyFileIsNotLaidOut) {
  Status status = CheckLayout(nullptr, 0);
  EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(status.message().find("empty"), std::string::npos);
}

TEST(RegionLayout, ForeignBytesAreRefused) {
  std::vector<unsigned char> bytes = Blank();
  std::memset(bytes.data(), 'x', 64);
  EXPECT_NE(CheckLayout(bytes.data(), bytes.size()).message().find("magic"), std::string::npos);
  EXPECT_NE(CheckLayout(bytes.data(), 3).message().find("shorter than its header"),
            std::string::npos);
}

TEST(RegionLayout, OtherVersionIsNamed) {
  std::vector<unsigned char> bytes = Blank();
  Header header = CurrentHeader();
  header.version = kLayoutVersion + 1;
  WriteHeader(bytes, header);
  Status status = CheckLayout(bytes.data(), bytes.size());
  EXPECT_NE(status.message().find("version " + std::to_string(kLayoutVersion + 1)),
            std::string::npos);
}

TEST(RegionLayout, SizeMismatchIsRefused) {
  std::vector<unsigned char> bytes = Blank();
  WriteHeader(bytes, CurrentHeader());
  EXPECT_FALSE(CheckLayout(bytes.data(), bytes.size() - 64).ok());
  Header header = CurrentHeader();
  header.max_processes = 1;
  WriteHeader(bytes, header);
  EXPECT_FALSE(CheckLayout(bytes.data(), bytes.size()).ok());
}

TEST(RegionLayout, SumSlotUsageCountsOnlyTakenSlots) {
  auto region = std::make_unique<Region>();
  region->slots[0].pid = 10;
  region->slots[0].used_bytes[2] = 100;
  region->slots[7].pid = 11;
  region->slots[7].used_bytes[2] = 23;
  region->slots[9].used_bytes[2] = 1000;  // free slot: stale numbers never count
  EXPECT_EQ(SumSlotUsage(*region, 2), 123u);
  EXPECT_EQ(SumSlotUsage(*region, 0), 0u);
}

}  // namespace
}  // namespace gpuslice::core::region
