#include "preload/physical_handles.h"

#include <gtest/gtest.h>

namespace gpuslice::preload {
namespace {

using Handles = std::vector<uint64_t>;
using Charges = std::vector<std::pair<int, uint64_t>>;

Handles Freed(const PhysicalHandles::Freed& freed) { return freed.handles; }

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
  EXPECT_EQ(Freed(handles.Unmapped(0x200000, 0x200000)), Handles{});
  EXPECT_EQ(Freed(handles.Unmapped(0x600000, 0x200000)), Handles{7});
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
  EXPECT_EQ(Freed(handles.Unmapped(0x200000, 0x400000)), (Handles{2, 3}));
  EXPECT_EQ(Freed(handles.Unmapped(0x000000, 0x200000)), Handles{1});
  EXPECT_EQ(Freed(handles.Unmapped(0x000000, 0x600000)), Handles{});  // nothing left mapped
}

TEST(PhysicalHandles, MemoryMappedIntoArrayTilesIsFreedByItsLastUnmap) {
  PhysicalHandles handles;
  handles.Created(7);
  ArrayTile first{0xa, 0, 0, 0, 0, 0, 0, 64, 64, 1};
  ArrayTile second = first;
  second.x = 64;
  handles.MappedTile(first, 7);
  handles.MappedTile(second, 7);
  EXPECT_FALSE(handles.Released(7));
  EXPECT_EQ(Freed(handles.UnmappedTile(first)), Handles{});
  EXPECT_EQ(Freed(handles.UnmappedTile(first)), Handles{});  // not mapped any more
  EXPECT_EQ(Freed(handles.UnmappedTile(second)), Handles{7});
}

TEST(PhysicalHandles, DestroyingAnArrayUnmapsItsTiles) {
  PhysicalHandles handles;
  handles.Created(7);
  handles.Created(8);
  handles.MappedTile(ArrayTile{0xa, 0, 0, 0, 0, 0, 0, 64, 64, 1}, 7);
  handles.MappedTile(ArrayTile{0xa, 1, 0, 2, 4096}, 8);  // a mip tail
  handles.MappedTile(ArrayTile{0xb, 0, 0, 0, 0, 0, 0, 64, 64, 1}, 8);
  EXPECT_FALSE(handles.Released(7));
  EXPECT_FALSE(handles.Released(8));
  EXPECT_EQ(Freed(handles.UnmappedArray(0xa)), Handles{7});
  EXPECT_EQ(Freed(handles.UnmappedArray(0xb)), Handles{8});
}

// Memory another process made: charged there, and here for each mapping while it lasts.
TEST(PhysicalHandles, AnImportsMappingsCarryTheirOwnCharges) {
  PhysicalHandles handles;
  EXPECT_EQ(handles.ImportSlice(9), std::nullopt);
  handles.Imported(9, 1);
  EXPECT_EQ(handles.ImportSlice(9), 1);
  handles.Mapped(0x200000, 9, 1, 0x200000);
  EXPECT_FALSE(handles.Released(9));  // released, still mapped
  const PhysicalHandles::Freed freed = handles.Unmapped(0x200000, 0x200000);
  EXPECT_EQ(freed.handles, Handles{});  // its memory was never charged here
  EXPECT_EQ(freed.import_charges, (Charges{{1, 0x200000}}));
  EXPECT_EQ(handles.ImportSlice(9), std::nullopt);
}

// Made before the library loaded: nothing was charged for it.
TEST(PhysicalHandles, IgnoresHandlesItWasNotToldAbout) {
  PhysicalHandles handles;
  handles.Mapped(0x200000, 9);
  EXPECT_EQ(Freed(handles.Unmapped(0x200000, 0x200000)), Handles{});
  EXPECT_TRUE(handles.Released(9));
}

}  // namespace
}  // namespace gpuslice::preload
