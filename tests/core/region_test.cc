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

TEST(RegionLayout, ReaderReadsTheCurrentAndTheFirstLayout) {
  std::vector<unsigned char> bytes = Blank();
  WriteHeader(bytes, CurrentHeader());
  Result<uint32_t> current = CheckReadable(bytes.data(), bytes.size());
  ASSERT_TRUE(current.ok()) << current.status().message();
  EXPECT_EQ(*current, kLayoutVersion);

  Header first = CurrentHeader();
  first.version = 1;
  first.size = kVersion1Size;
  WriteHeader(bytes, first);
  Result<uint32_t> old = CheckReadable(bytes.data(), kVersion1Size);
  ASSERT_TRUE(old.ok()) << old.status().message();
  EXPECT_EQ(*old, 1u);
  // A writer maps only its own version.
  EXPECT_FALSE(CheckLayout(bytes.data(), kVersion1Size).ok());
  // A version-1 header on a file of another size is not trusted.
  EXPECT_FALSE(CheckReadable(bytes.data(), bytes.size()).ok());

  Header second = CurrentHeader();
  second.version = 2;
  second.size = kVersion2Size;
  WriteHeader(bytes, second);
  Result<uint32_t> counters = CheckReadable(bytes.data(), kVersion2Size);
  ASSERT_TRUE(counters.ok()) << counters.status().message();
  EXPECT_EQ(*counters, 2u);
  EXPECT_FALSE(CheckReadable(bytes.data(), kRegionSize).ok());
}

TEST(RegionLayout, ReaderRefusesUnknownVersionsAndForeignFiles) {
  std::vector<unsigned char> bytes = Blank();
  Header header = CurrentHeader();
  header.version = kLayoutVersion + 1;
  WriteHeader(bytes, header);
  EXPECT_NE(CheckReadable(bytes.data(), bytes.size()).status().message().find("version " + std::to_string(kLayoutVersion + 1)),
            std::string::npos);
  header.version = 0;
  WriteHeader(bytes, header);
  EXPECT_FALSE(CheckReadable(bytes.data(), bytes.size()).ok());
  EXPECT_FALSE(CheckReadable(bytes.data(), 0).ok());
  EXPECT_FALSE(CheckReadable(bytes.data(), 5).ok());
  std::memset(bytes.data(), 'x', 64);
  EXPECT_FALSE(CheckReadable(bytes.data(), bytes.size()).ok());
}

TEST(RegionLayout, EachVersionIsAPrefixOfTheNext) {
  EXPECT_EQ(LayoutSize(1), kVersion1Size);
  EXPECT_EQ(LayoutSize(2), kVersion2Size);
  EXPECT_EQ(kCountersEnd, offsetof(Region, slot_counters));
  EXPECT_LE(kCountersEnd, kVersion2Size);
  EXPECT_EQ(kNvmlPidsBegin, kVersion2Size);
  EXPECT_EQ(kNvmlPidsEnd, kRegionSize);
  EXPECT_EQ(LayoutSize(kLayoutVersion), kRegionSize);
  EXPECT_EQ(LayoutSize(kLayoutVersion + 1), 0u);
  EXPECT_LE(kDevicesEnd, kVersion1Size);
  EXPECT_EQ(kCountersBegin, kVersion1Size);
}

TEST(RegionLayout, ReadDeviceUsageCopiesTheContainerFigures) {
  auto region = std::make_unique<Region>();
  region->devices[3].used_bytes = 300;
  region->counters[3].peak_bytes = 400;
  region->counters[3].refused_allocations = 2;
  region->counters[3].refused_bytes = 5000;
  region->counters[3].throttled_launches = 7;
  region->counters[3].throttled_ns = 9000;
  region->devices[4].used_bytes = 1;
  const auto* base = reinterpret_cast<const unsigned char*>(region.get());
  DeviceUsage usage = ReadDeviceUsage(base, base + kCountersBegin, 3);
  EXPECT_EQ(usage.used_bytes, 300u);
  EXPECT_EQ(usage.peak_bytes, 400u);
  EXPECT_EQ(usage.refused_allocations, 2u);
  EXPECT_EQ(usage.refused_bytes, 5000u);
  EXPECT_EQ(usage.throttled_launches, 7u);
  EXPECT_EQ(usage.throttled_ns, 9000u);
  // A version-1 region has no counters.
  DeviceUsage old = ReadDeviceUsage(base, nullptr, 3);
  EXPECT_EQ(old.used_bytes, 300u);
  EXPECT_EQ(old.peak_bytes, 0u);
  EXPECT_EQ(old.refused_allocations, 0u);
}

TEST(RegionLayout, ReadNvmlPidsGivesTheKnownPidsOnce) {
  auto region = std::make_unique<Region>();
  region->nvml_pids[0] = 4242;
  region->nvml_pids[5] = 17;
  region->nvml_pids[900] = 4242;  // a PID a process of the container wrote twice
  const auto* base = reinterpret_cast<const unsigned char*>(region.get());
  EXPECT_EQ(ReadNvmlPids(base + kNvmlPidsBegin), (std::vector<uint32_t>{17, 4242}));
  auto blank = std::make_unique<Region>();
  EXPECT_TRUE(ReadNvmlPids(reinterpret_cast<const unsigned char*>(blank.get()) + kNvmlPidsBegin)
                  .empty());
}

}  // namespace
}  // namespace gpuslice::core::region
