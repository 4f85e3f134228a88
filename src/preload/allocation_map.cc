#include "preload/allocation_map.h"

namespace gpuslice::preload {

void AllocationMap::Insert(AllocationKind kind, uint64_t handle, Allocation allocation) {
  Shard& shard = ShardOf(handle);
  std::lock_guard<std::mutex> guard(shard.mutex);
  shard.allocations[Key{handle, kind}] = allocation;
}

std::optional<Allocation> AllocationMap::Take(AllocationKind kind, uint64_t handle) {
  Shard& shard = ShardOf(handle);
  std::lock_guard<std::mutex> guard(shard.mutex);
  auto found = shard.allocations.find(Key{handle, kind});
  if (found == shard.allocations.end()) return std::nullopt;
  Allocation allocation = found->second;
  shard.allocations.erase(found);
  return allocation;
}

}  // namespace gpuslice::preload
