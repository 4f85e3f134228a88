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
