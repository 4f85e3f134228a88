// The simulated driver's memory: every range of device-accessible memory this process holds,
// backed by host memory so copies round-trip, and what each range is (plain, pitched,
// managed, pinned host, pool block, graph allocation, VMM mapping). Lookups serve copies,
// frees and pointer attributes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <shared_mutex>
#include <vector>

#include "core/abi/cuda.h"

namespace gpuslice::sim::cuda {

enum class MemoryKind {
  kDevice,          // cuMemAlloc, cuMemAllocPitch
  kManaged,         // cuMemAllocManaged
  kHostPinned,      // cuMemAllocHost, cuMemHostAlloc
  kHostRegistered,  // cuMemHostRegister
  kPoolBlock,       // cuMemAllocAsync / FromPoolAsync
  kGraph,           // a graph memory-allocation node's memory
  kVmmMapping,      // cuMemMap of a cuMemCreate handle
  kModuleGlobal,    // a module's __device__ / __constant__ variable
};

struct Allocation {
  uintptr_t base = 0;
  size_t size = 0;  // what the caller asked for (the range that is valid to access)
  MemoryKind kind = MemoryKind::kDevice;
  int gpu = -1;     // node GPU index, -1 for host memory
  int device = -1;  // device ordinal as the process sees it
  CUcontext ctx = nullptr;
  uint64_t buffer_id = 0;
  unsigned int host_flags = 0;                  // cuMemHostAlloc / cuMemHostRegister flags
  CUmemoryPool pool = nullptr;                  // kPoolBlock
  CUmemGenericAllocationHandle vmm_handle = 0;  // kVmmMapping
  bool accessible = true;                       // kVmmMapping: cuMemSetAccess granted read-write
};

// Thread-safe. Ranges never overlap.
class MemoryMap {
 public:
  void Insert(const Allocation& allocation);
  // Removes and returns the allocation starting exactly at `base`.
  std::optional<Allocation> Erase(uintptr_t base);
  // The allocation containing `address`.
  std::optional<Allocation> Find(uintptr_t address) const;
  // The allocation containing all of [address, address + bytes), when one does.
  std::optional<Allocation> FindRange(uintptr_t address, size_t bytes) const;
  // Sets `accessible` of the VMM mappings overlapping [address, address + bytes).
  void SetAccessible(uintptr_t address, size_t bytes, bool accessible);
  // Every allocation for which `match` holds.
  template <typename Match>
  std::vector<Allocation> Select(Match match) const {
    std::shared_lock lock(mutex_);
    std::vector<Allocation> selected;
    for (const auto& [base, allocation] : by_base_) {
      if (match(allocation)) selected.push_back(allocation);
    }
    return selected;
  }

 private:
  mutable std::shared_mutex mutex_;
  std::map<uintptr_t, Allocation> by_base_;
};

// Host memory standing in for device memory: anonymous mappings reserved lazily, so an
// 80 GiB simulated GPU needs host RAM only for the bytes a program actually touches.
// `low` places it below 2 GiB, for the legacy entry points' 32-bit device pointers.
// Returns nullptr when the host cannot map that much.
void* MapBacking(size_t bytes, bool low = false);
void UnmapBacking(void* address, size_t bytes);
size_t PageRound(size_t bytes);

}  // namespace gpuslice::sim::cuda
