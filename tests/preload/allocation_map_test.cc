#include "preload/allocation_map.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace gpuslice::preload {
namespace {

TEST(AllocationMap, TakeReturnsWhatWasInsertedOnce) {
  AllocationMap map;
  map.Insert(AllocationKind::kDevicePointer, 0x7000, Allocation{1, 4096});
  EXPECT_FALSE(map.Take(AllocationKind::kArray, 0x7000).has_value());  // kinds are apart
  std::optional<Allocation> taken = map.Take(AllocationKind::kDevicePointer, 0x7000);
  ASSERT_TRUE(taken.has_value());
  EXPECT_EQ(taken->device, 1);
  EXPECT_EQ(taken->bytes, 4096u);
  EXPECT_FALSE(map.Take(AllocationKind::kDevicePointer, 0x7000).has_value());
}

// Records taken leave their nodes for the next inserts: a reused node carries the new record
// only, and a handle inserted twice is still overwritten, not kept twice.
TEST(AllocationMap, RecordsInReusedNodesAreTheNewOnes) {
  AllocationMap map;
  constexpr uint64_t kRecords = 200;  // more than a shard keeps, spread over every shard
  for (uint64_t i = 0; i < kRecords; ++i) {
    map.Insert(AllocationKind::kDevicePointer, i << 12, Allocation{0, i});
  }
  for (uint64_t i = 0; i < kRecords; ++i) {
    ASSERT_TRUE(map.Take(AllocationKind::kDevicePointer, i << 12).has_value());
  }
  for (uint64_t i = 0; i < kRecords; ++i) {
    map.Insert(AllocationKind::kArray, i << 12, Allocation{2, 1000 + i});
    map.Insert(AllocationKind::kArray, i << 12, Allocation{3, 2000 + i});
  }
  for (uint64_t i = 0; i < kRecords; ++i) {
    EXPECT_FALSE(map.Take(AllocationKind::kDevicePointer, i << 12).has_value());
    std::optional<Allocation> taken = map.Take(AllocationKind::kArray, i << 12);
    ASSERT_TRUE(taken.has_value()) << i;
    EXPECT_EQ(taken->device, 3);
    EXPECT_EQ(taken->bytes, 2000 + i);
    EXPECT_FALSE(map.Take(AllocationKind::kArray, i << 12).has_value());
  }
}

TEST(AllocationMap, ThreadsInsertAndTakeTheirOwn) {
  AllocationMap map;
  std::vector<std::thread> threads;
  std::atomic<int> taken{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (uint64_t i = 0; i < 1000; ++i) {
        const uint64_t handle = (static_cast<uint64_t>(t) << 32) | (i << 8);
        map.Insert(AllocationKind::kDevicePointer, handle, Allocation{t, i});
        if (map.Take(AllocationKind::kDevicePointer, handle)) ++taken;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(taken.load(), 8000);
}

}  // namespace
}  // namespace gpuslice::preload
