#include "preload/allocation_map.h"

namespace gpuslice::preload {

void AllocationMap::Insert(AllocationKind kind, uint64_t handle, Allocation allocation) {
  Shard& shard = ShardOf(handle);
  std::lock_guard<std::mutex> guard(shard.mutex);
  const Key key{handle, kind};
  if (shard.spare.empty()) {
    shard.allocations[key] = allocation;
    return;
  }
  Map::node_type node = std::move(shard.spare.back());
  shard.spare.pop_back();
  node.key() = key;
  node.mapped() = allocation;
  const auto inserted = shard.allocations.insert(std::move(node));
  if (!inserted.inserted) inserted.position->second = allocation;
}

std::optional<Allocation> AllocationMap::Take(AllocationKind kind, uint64_t handle) {
  Shard& shard = ShardOf(handle);
  std::lock_guard<std::mutex> guard(shard.mutex);
  auto found = shard.allocations.find(Key{handle, kind});
  if (found == shard.allocations.end()) return std::nullopt;
  Allocation allocation = found->second;
  Map::node_type node = shard.allocations.extract(found);
  if (shard.spare.size() < kSpareNodes) shard.spare.push_back(std::move(node));
  return allocation;
}

}  // namespace gpuslice::preload
