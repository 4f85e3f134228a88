#include "preload/physical_handles.h"

namespace gpuslice::preload {

void PhysicalHandles::Created(uint64_t handle) {
  std::lock_guard<std::mutex> lock(mutex_);
  uses_[handle] = Use{};
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

void PhysicalHandles::Mapped(uint64_t address, uint64_t handle) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto use = uses_.find(handle);
  if (use == uses_.end()) return;
  ++use->second.mappings;
  mappings_[address] = handle;
}

std::vector<uint64_t> PhysicalHandles::Unmapped(uint64_t address, uint64_t size) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<uint64_t> freed;
  for (auto mapping = mappings_.lower_bound(address);
       mapping != mappings_.end() && mapping->first - address < size;) {
    auto use = uses_.find(mapping->second);
    if (use != uses_.end() && --use->second.mappings == 0 && use->second.references <= 0) {
      freed.push_back(use->first);
      uses_.erase(use);
    }
    mapping = mappings_.erase(mapping);
  }
  return freed;
}

}  // namespace gpuslice::preload
