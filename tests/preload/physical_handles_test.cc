#include "preload/physical_handles.h"

#include <gtest/gtest.h>

namespace gpuslice::preload {
namespace {

using Handles = std::vector<uint64_t>;

TEST(PhysicalHandles, AnUnmappedHandleIsFreedByItsRelease) {
  PhysicalHandles handles;
  handles.Created(7);
  EXPECT_TRUE(handles.Released(7));
}

TEST(PhysicalHandles, AMappedHandleIsFreedByItsLastUnmap) {
  PhysicalHandles handles;
  handles.Created(7);
  handles.Mapped(0x200000, 7);
  handles.Mapped(0x600000, 7);
  EXPECT_FALSE(handles.Released(7));
  EXPECT_EQ(handles.Unmapped(0x200000, 0x200000), Handles{});
  EXPECT_EQ(handles.Unmapped(0x600000, 0x200000), Handles{7});
}

TEST(PhysicalHandles, EveryRetainNeedsItsOwnRelease) {
  PhysicalHandles handles;
  handles.Created(7);
  handles.Retained(7);
  EXPECT_FALSE(handles.Released(7));
  EXPECT_TRUE(handles.Released(7));
}

TEST(PhysicalHandles, UnmappingARangeCoversEveryMappingStartingInIt) {
  PhysicalHandles handles;
  handles.Created(1);
  handles.Created(2);
  handles.Created(3);
  handles.Mapped(0x000000, 1);
  handles.Mapped(0x200000, 2);
  handles.Mapped(0x400000, 3);
  for (uint64_t handle : {1, 2, 3}) EXPECT_FALSE(handles.Released(handle));
  EXPECT_EQ(handles.Unmapped(0x200000, 0x400000), (Handles{2, 3}));
  EXPECT_EQ(handles.Unmapped(0x000000, 0x200000), Handles{1});
  EXPECT_EQ(handles.Unmapped(0x000000, 0x600000), Handles{});  // nothing left mapped
}

// Imported from another process, which was charged for it.
TEST(PhysicalHandles, IgnoresHandlesItWasNotToldAbout) {
  PhysicalHandles handles;
  handles.Mapped(0x200000, 9);
  EXPECT_EQ(handles.Unmapped(0x200000, 0x200000), Handles{});
  EXPECT_TRUE(handles.Released(9));
}

}  // namespace
}  // namespace gpuslice::preload
