// Physical memory of the virtual memory API (cuMemCreate) stays in use until its handle has
// been released once for cuMemCreate and once per cuMemRetainAllocationHandle, and every
// mapping of it is gone: a cuMemRelease of a mapped handle frees nothing yet. Mappings are
// into reserved address ranges (cuMemMap) and into the tiles of sparse and deferred-mapping
// arrays (cuMemMapArrayAsync). This tracks both counts so the charge is given back only when
// the driver really frees the memory.
//
// Memory imported from another process (cuMemImportFromShareableHandle) was charged where it
// was made, but stays in use while this process maps it, also after its maker let it go: each
// mapping of an import is charged here on its own (to the container twice while the maker
// holds it too: known imprecision, on the safe side).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <tuple>
#include <unordered_map>
#include <vector>

namespace gpuslice::preload {

// One tile range of an array that memory is mapped into: the array (or mipmapped array)
// handle, and its subresource as cuMemMapArrayAsync names it (sparse level: level, layer,
// offsets, extents; mip tail: layer and offset).
struct ArrayTile {
  uint64_t array = 0;
  uint32_t kind = 0;  // CUarraySparseSubresourceType
  uint32_t level = 0;
  uint32_t layer = 0;
  uint64_t x = 0, y = 0, z = 0;
  uint64_t width = 0, height = 0, depth = 0;
  auto operator<=>(const ArrayTile&) const = default;
};

// Thread-safe. Handles it was not told about (made before the library loaded) are ignored.
class PhysicalHandles {
 public:
  void Created(uint64_t handle);
  // An import on slice `slice`; its mappings are charged on their own (see above).
  void Imported(uint64_t handle, int slice);
  void Retained(uint64_t handle);
  // True when the handle's memory is now freed (no references, no mappings).
  bool Released(uint64_t handle);

  // The slice of an imported handle, or nullopt for handles that are no imports.
  std::optional<int> ImportSlice(uint64_t handle) const;
  // What the mappings of imports on `slice` are charged now.
  uint64_t ImportCharges(int slice) const;
  // `handle` was mapped at `address`; `charged` bytes were charged for it on `slice` (an
  // import's mapping; 0 otherwise).
  void Mapped(uint64_t address, uint64_t handle, int slice = -1, uint64_t charged = 0);
  void MappedTile(const ArrayTile& tile, uint64_t handle);

  // What unmapping frees: handles whose memory is now freed, and the charges of imports'
  // mappings that are gone, per slice.
  struct Freed {
    std::vector<uint64_t> handles;
    std::vector<std::pair<int, uint64_t>> import_charges;
  };
  // Unmaps every mapping that starts in [address, address + size).
  Freed Unmapped(uint64_t address, uint64_t size);
  // Unmaps the tile mapped as `tile`.
  Freed UnmappedTile(const ArrayTile& tile);
  // Unmaps every tile of `array` (destroyed).
  Freed UnmappedArray(uint64_t array);

 private:
  struct Use {
    int references = 1;
    int mappings = 0;
    int import_slice = -1;  // >= 0 for an import
  };
  struct Mapping {
    uint64_t handle = 0;
    int slice = -1;
    uint64_t charged = 0;
  };
  // REQUIRES: mutex_ held. One mapping of `mapping.handle` is gone.
  void Unmap(const Mapping& mapping, Freed& freed);

  mutable std::mutex mutex_;
  std::unordered_map<uint64_t, Use> uses_;
  std::map<uint64_t, Mapping> mappings_;  // mapped address -> mapping
  std::map<ArrayTile, uint64_t> tiles_;   // mapped tile -> handle
};

}  // namespace gpuslice::preload
