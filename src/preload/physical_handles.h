// Physical memory of the virtual memory API (cuMemCreate) stays in use until its handle has
// been released once for cuMemCreate and once per cuMemRetainAllocationHandle, and every
// mapping of it is unmapped: a cuMemRelease of a mapped handle frees nothing yet. This tracks
// both counts so the charge is given back only when the driver really frees the memory.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace gpuslice::preload {

// Thread-safe. Handles it was not told about (imported from another process, charged there)
// are ignored.
class PhysicalHandles {
 public:
  void Created(uint64_t handle);
  void Retained(uint64_t handle);
  // True when the handle's memory is now freed (no references, no mappings).
  bool Released(uint64_t handle);
  void Mapped(uint64_t address, uint64_t handle);
  // The handles whose memory is now freed by unmapping every mapping that starts in
  // [address, address + size).
  std::vector<uint64_t> Unmapped(uint64_t address, uint64_t size);

 private:
  struct Use {
    int references = 1;
    int mappings = 0;
  };
  std::mutex mutex_;
  std::unordered_map<uint64_t, Use> uses_;
  std::map<uint64_t, uint64_t> mappings_;  // mapped address -> handle
};

}  // namespace gpuslice::preload
