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

std::vector<Allocation> AllocationMap::TakeOwnedBy(uint64_t owner) {
  std::vector<Allocation> taken;
  for (Shard& shard : shards_) {
    std::lock_guard<std::mutex> guard(shard.mutex);
    for (auto it = shard.allocations.begin(); it != shard.allocations.end();) {
      if (it->second.owner == owner) {
        taken.push_back(it->second);
        it = shard.allocations.erase(it);
      } else {
        ++it;
      }
    }
  }
  return taken;
}

}  // namespace gpuslice::preload
