#include "preload/physical_handles.h"

namespace gpuslice::preload {

void PhysicalHandles::Created(uint64_t handle) {
  std::lock_guard<std::mutex> lock(mutex_);
  uses_[handle] = Use{};
}

void PhysicalHandles::Imported(uint64_t handle, int slice) {
  std::lock_guard<std::mutex> lock(mutex_);
  uses_[handle] = Use{1, 0, slice};
}

void PhysicalHandles::Retained(uint64_t handle) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (auto use = uses_.find(handle); use != uses_.end()) ++use->second.references;
}

bool PhysicalHandles::Released(uint64_t handle) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto use = uses_.find(handle);
  if (use == uses_.end()) return true;
  if (--use->second.references > 0 || use->second.mappings > 0) return false;
  uses_.erase(use);
  return true;
}

std::optional<int> PhysicalHandles::ImportSlice(uint64_t handle) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto use = uses_.find(handle);
  if (use == uses_.end() || use->second.import_slice < 0) return std::nullopt;
  return use->second.import_slice;
}

uint64_t PhysicalHandles::ImportCharges(int slice) const {
  std::lock_guard<std::mutex> lock(mutex_);
  uint64_t charged = 0;
  for (const auto& [address, mapping] : mappings_) {
    if (mapping.slice == slice) charged += mapping.charged;
  }
  return charged;
}

void PhysicalHandles::Mapped(uint64_t address, uint64_t handle, int slice, uint64_t charged) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto use = uses_.find(handle);
  if (use == uses_.end()) return;
  ++use->second.mappings;
  mappings_[address] = Mapping{handle, slice, charged};
}

void PhysicalHandles::MappedTile(const ArrayTile& tile, uint64_t handle) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto use = uses_.find(handle);
  if (use == uses_.end()) return;
  ++use->second.mappings;
  tiles_[tile] = handle;
}

void PhysicalHandles::Unmap(const Mapping& mapping, Freed& freed) {
  if (mapping.charged > 0) freed.import_charges.emplace_back(mapping.slice, mapping.charged);
  auto use = uses_.find(mapping.handle);
  if (use == uses_.end() || --use->second.mappings > 0 || use->second.references > 0) return;
  // An import's memory was charged where it was made; only its mappings were charged here.
  if (use->second.import_slice < 0) freed.handles.push_back(use->first);
  uses_.erase(use);
}

PhysicalHandles::Freed PhysicalHandles::Unmapped(uint64_t address, uint64_t size) {
  std::lock_guard<std::mutex> lock(mutex_);
  Freed freed;
  for (auto mapping = mappings_.lower_bound(address);
       mapping != mappings_.end() && mapping->first - address < size;) {
    Unmap(mapping->second, freed);
    mapping = mappings_.erase(mapping);
  }
  return freed;
}

PhysicalHandles::Freed PhysicalHandles::UnmappedTile(const ArrayTile& tile) {
  std::lock_guard<std::mutex> lock(mutex_);
  Freed freed;
  const auto found = tiles_.find(tile);
  if (found == tiles_.end()) return freed;
  Unmap(Mapping{found->second, -1, 0}, freed);
  tiles_.erase(found);
  return freed;
}

PhysicalHandles::Freed PhysicalHandles::UnmappedArray(uint64_t array) {
  std::lock_guard<std::mutex> lock(mutex_);
  Freed freed;
  for (auto tile = tiles_.lower_bound(ArrayTile{array});
       tile != tiles_.end() && tile->first.array == array;) {
    Unmap(Mapping{tile->second, -1, 0}, freed);
    tile = tiles_.erase(tile);
  }
  return freed;
}

}  // namespace gpuslice::preload
