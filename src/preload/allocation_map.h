// What this process allocated, so a free knows how much to give back and on which slice.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

namespace gpuslice::preload {

// The kinds of handle an allocation is freed by; they live in separate key spaces.
enum class AllocationKind : uint8_t {
  kDevicePointer,   // cuMemAlloc*, async and pool allocations (graph memory: graph_memory.h)
  kPhysicalHandle,  // cuMemCreate -> cuMemRelease
  kArray,           // cuArrayCreate / cuArray3DCreate -> cuArrayDestroy
  kMipmappedArray,  // cuMipmappedArrayCreate -> cuMipmappedArrayDestroy
};

struct Allocation {
  int device = 0;  // slice index
  uint64_t bytes = 0;
};

// Thread-safe: sharded by handle, one mutex per shard, so threads freeing different
// allocations rarely meet. A shard keeps the nodes of records it took for the next ones, so a
// steady allocate/free loop calls no allocator under its lock.
class AllocationMap {
 public:
  // Records an allocation; a handle already present (a driver reusing a freed address the
  // map missed) is overwritten.
  void Insert(AllocationKind kind, uint64_t handle, Allocation allocation);
  // Removes and returns the allocation, or nullopt when the handle is unknown.
  std::optional<Allocation> Take(AllocationKind kind, uint64_t handle);

 private:
  static constexpr int kShards = 64;
  struct Key {
    uint64_t handle;
    AllocationKind kind;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& key) const {
      return std::hash<uint64_t>()(key.handle) ^ static_cast<size_t>(key.kind);
    }
  };
  using Map = std::unordered_map<Key, Allocation, KeyHash>;
  static constexpr size_t kSpareNodes = 16;
  struct alignas(64) Shard {
    std::mutex mutex;
    Map allocations;
    std::vector<Map::node_type> spare;
  };
  Shard& ShardOf(uint64_t handle) { return shards_[(handle >> 12 ^ handle) % kShards]; }

  Shard shards_[kShards];
};

}  // namespace gpuslice::preload
