#include "sim/cuda/memory_map.h"

#include <sys/mman.h>
#include <unistd.h>

#include <mutex>

namespace gpuslice::sim::cuda {

void MemoryMap::Insert(const Allocation& allocation) {
  std::unique_lock lock(mutex_);
  by_base_[allocation.base] = allocation;
}

std::optional<Allocation> MemoryMap::Erase(uintptr_t base) {
  std::unique_lock lock(mutex_);
  auto it = by_base_.find(base);
  if (it == by_base_.end()) return std::nullopt;
  Allocation allocation = it->second;
  by_base_.erase(it);
  return allocation;
}

std::optional<Allocation> MemoryMap::Find(uintptr_t address) const { return FindRange(address, 1); }

std::optional<Allocation> MemoryMap::FindRange(uintptr_t address, size_t bytes) const {
  std::shared_lock lock(mutex_);
  auto it = by_base_.upper_bound(address);
  if (it == by_base_.begin()) return std::nullopt;
  --it;
  const Allocation& allocation = it->second;
  const uintptr_t end = allocation.base + allocation.size;
  if (address >= end || bytes > end - address) return std::nullopt;
  return allocation;
}

void MemoryMap::SetAccessible(uintptr_t address, size_t bytes, bool accessible) {
  std::unique_lock lock(mutex_);
  for (auto& [base, allocation] : by_base_) {
    if (allocation.kind == MemoryKind::kVmmMapping && base < address + bytes &&
        address < base + allocation.size) {
      allocation.accessible = accessible;
    }
  }
}

size_t PageRound(size_t bytes) {
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return (bytes + page - 1) / page * page;
}

void* MapBacking(size_t bytes, bool low) {
  void* address = mmap(nullptr, PageRound(bytes), PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | (low ? MAP_32BIT : 0), -1, 0);
  return address == MAP_FAILED ? nullptr : address;
}

void UnmapBacking(void* address, size_t bytes) { munmap(address, PageRound(bytes)); }

}  // namespace gpuslice::sim::cuda
