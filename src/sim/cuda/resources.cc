#include "sim/cuda/resources.h"

#include <sys/mman.h>

#include <algorithm>

namespace gpuslice::sim::cuda {
namespace {

bool CountsOnGpu(MemoryKind kind) {
  return kind != MemoryKind::kHostPinned && kind != MemoryKind::kHostRegistered &&
         kind != MemoryKind::kModuleGlobal;
}

void ReleaseBlock(Driver& driver, CUmemPoolHandle_st* pool, uintptr_t address, size_t bytes) {
  driver.memory.Erase(address);
  UnmapBacking(reinterpret_cast<void*>(address), bytes);
  driver.account().Release(pool->gpu, bytes);
  pool->reserved -= bytes;
  pool->blocks.erase(address);
}

}  // namespace

CUresult AllocateMemory(Driver& driver, CUctx_st* ctx, size_t bytes, MemoryKind kind,
                        unsigned int host_flags, CUmemoryPool pool, CUdeviceptr* address,
                        bool low) {
  const bool on_gpu = CountsOnGpu(kind);
  if (on_gpu) {
    if (driver.IsLost(ctx->gpu)) return CUDA_ERROR_DEVICE_UNAVAILABLE;
    if (!driver.account().Reserve(ctx->gpu, bytes).ok()) return CUDA_ERROR_OUT_OF_MEMORY;
  }
  void* backing = MapBacking(bytes, low);
  if (backing == nullptr) {
    if (on_gpu) driver.account().Release(ctx->gpu, bytes);
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  Allocation allocation;
  allocation.base = reinterpret_cast<uintptr_t>(backing);
  allocation.size = bytes;
  allocation.kind = kind;
  allocation.gpu = on_gpu ? ctx->gpu : -1;
  allocation.device = ctx->device;
  allocation.ctx = ctx;
  allocation.buffer_id = driver.NextId();
  allocation.host_flags = host_flags;
  allocation.pool = pool;
  driver.memory.Insert(allocation);
  *address = allocation.base;
  return CUDA_SUCCESS;
}

void ReleaseMemory(Driver& driver, const Allocation& allocation) {
  if (allocation.kind != MemoryKind::kHostRegistered) {
    UnmapBacking(reinterpret_cast<void*>(allocation.base), allocation.size);
  }
  if (CountsOnGpu(allocation.kind)) driver.account().Release(allocation.gpu, allocation.size);
}

CUresult FreeDeviceMemory(Driver& driver, CUdeviceptr address) {
  const std::optional<Allocation> found = driver.memory.Find(address);
  if (!found || found->base != address) return CUDA_ERROR_INVALID_VALUE;
  switch (found->kind) {
    case MemoryKind::kDevice:
    case MemoryKind::kManaged:
      if (driver.memory.Erase(address)) ReleaseMemory(driver, *found);
      return CUDA_SUCCESS;
    case MemoryKind::kPoolBlock:
      return PoolFree(driver, *found);
    case MemoryKind::kGraph: {
      std::shared_ptr<GraphAllocation> allocation;
      {
        std::lock_guard<std::mutex> lock(driver.graph_memory_mutex);
        auto it = driver.graph_allocations.find(address);
        if (it != driver.graph_allocations.end()) allocation = it->second;
      }
      if (allocation == nullptr) return CUDA_ERROR_INVALID_VALUE;
      UnmapGraphAllocation(driver, *allocation);
      ForgetGraphAllocation(driver, allocation);
      return CUDA_SUCCESS;
    }
    default:
      return CUDA_ERROR_INVALID_VALUE;
  }
}

CUresult PoolAllocate(Driver& driver, CUmemPoolHandle_st* pool, size_t bytes,
                      CUdeviceptr* address) {
  if (driver.IsLost(pool->gpu)) return CUDA_ERROR_DEVICE_UNAVAILABLE;
  std::lock_guard<std::mutex> lock(pool->mutex);
  // Reuse the smallest spare block that fits without wasting more than half of it.
  auto spare = pool->free_blocks.lower_bound(bytes);
  if (spare != pool->free_blocks.end() && spare->first <= 2 * bytes) {
    const size_t block_bytes = spare->first;
    *address = spare->second;
    pool->free_blocks.erase(spare);
    pool->used += block_bytes;
    pool->used_high = std::max(pool->used_high, pool->used);
    return CUDA_SUCCESS;
  }
  if (pool->props.maxSize != 0 && pool->reserved + bytes > pool->props.maxSize) {
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  if (!driver.account().Reserve(pool->gpu, bytes).ok()) {
    while (!pool->free_blocks.empty()) {
      auto largest = std::prev(pool->free_blocks.end());
      ReleaseBlock(driver, pool, largest->second, largest->first);
      pool->free_blocks.erase(largest);
    }
    if (!driver.account().Reserve(pool->gpu, bytes).ok()) return CUDA_ERROR_OUT_OF_MEMORY;
  }
  void* backing = MapBacking(bytes);
  if (backing == nullptr) {
    driver.account().Release(pool->gpu, bytes);
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  Allocation block;
  block.base = reinterpret_cast<uintptr_t>(backing);
  block.size = bytes;
  block.kind = MemoryKind::kPoolBlock;
  block.gpu = pool->gpu;
  block.device = pool->device;
  block.buffer_id = driver.NextId();
  block.pool = pool;
  driver.memory.Insert(block);
  pool->blocks[block.base] = bytes;
  pool->reserved += bytes;
  pool->reserved_high = std::max(pool->reserved_high, pool->reserved);
  pool->used += bytes;
  pool->used_high = std::max(pool->used_high, pool->used);
  *address = block.base;
  return CUDA_SUCCESS;
}

CUresult PoolFree(Driver& driver, const Allocation& block) {
  CUmemPoolHandle_st* pool = block.pool;
  bool orphan_emptied = false;
  {
    std::lock_guard<std::mutex> lock(pool->mutex);
    const auto [first, last] = pool->free_blocks.equal_range(block.size);
    for (auto it = first; it != last; ++it) {
      if (it->second == block.base) return CUDA_ERROR_INVALID_VALUE;  // freed twice
    }
    pool->used -= std::min(pool->used, block.size);
    if (pool->life == CUmemPoolHandle_st::Life::kLive) {
      pool->free_blocks.emplace(block.size, block.base);
    } else {
      // Its pool was destroyed while this block was in use.
      ReleaseBlock(driver, pool, block.base, block.size);
      orphan_emptied = pool->life == CUmemPoolHandle_st::Life::kOrphaned && pool->blocks.empty();
    }
  }
  if (orphan_emptied) delete pool;
  return CUDA_SUCCESS;
}

void PoolTrim(Driver& driver, CUmemPoolHandle_st* pool, size_t keep) {
  std::lock_guard<std::mutex> lock(pool->mutex);
  while (pool->reserved > keep && !pool->free_blocks.empty()) {
    auto largest = std::prev(pool->free_blocks.end());
    ReleaseBlock(driver, pool, largest->second, largest->first);
    pool->free_blocks.erase(largest);
  }
}

void TrimPoolsToThreshold(Driver& driver) {
  for (CUmemPoolHandle_st* pool :
       driver.pools.Select([](const CUmemPoolHandle_st&) { return true; })) {
    uint64_t threshold;
    {
      std::lock_guard<std::mutex> lock(pool->mutex);
      threshold = pool->release_threshold;
    }
    PoolTrim(driver, pool, threshold);
  }
}

std::shared_ptr<GraphAllocation> ReserveGraphAllocation(Driver& driver, int gpu, int device,
                                                        size_t bytes) {
  void* range = mmap(nullptr, PageRound(bytes), PROT_NONE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (range == MAP_FAILED) return nullptr;
  auto allocation = std::make_shared<GraphAllocation>();
  allocation->address = reinterpret_cast<uintptr_t>(range);
  allocation->bytes = bytes;
  allocation->gpu = gpu;
  allocation->device = device;
  std::lock_guard<std::mutex> lock(driver.graph_memory_mutex);
  driver.graph_allocations[allocation->address] = allocation;
  return allocation;
}

CUresult MapGraphAllocation(Driver& driver, GraphAllocation& allocation) {
  std::lock_guard<std::mutex> lock(driver.graph_memory_mutex);
  if (allocation.resident) return CUDA_SUCCESS;
  if (driver.IsLost(allocation.gpu)) return CUDA_ERROR_DEVICE_UNAVAILABLE;
  if (!driver.account().Reserve(allocation.gpu, allocation.bytes).ok()) {
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  if (mprotect(reinterpret_cast<void*>(allocation.address), PageRound(allocation.bytes),
               PROT_READ | PROT_WRITE) != 0) {
    driver.account().Release(allocation.gpu, allocation.bytes);
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  Allocation range;
  range.base = allocation.address;
  range.size = allocation.bytes;
  range.kind = MemoryKind::kGraph;
  range.gpu = allocation.gpu;
  range.device = allocation.device;
  range.buffer_id = driver.NextId();
  driver.memory.Insert(range);
  allocation.resident = true;
  uint64_t in_use = 0;
  for (const auto& [address, other] : driver.graph_allocations) {
    if (other->resident && other->gpu == allocation.gpu) in_use += other->bytes;
  }
  uint64_t& high = driver.graph_memory_high[allocation.gpu];
  high = std::max(high, in_use);
  return CUDA_SUCCESS;
}

void UnmapGraphAllocation(Driver& driver, GraphAllocation& allocation) {
  std::lock_guard<std::mutex> lock(driver.graph_memory_mutex);
  if (!allocation.resident) return;
  driver.memory.Erase(allocation.address);
  // Replacing the pages with fresh inaccessible ones frees them and keeps the range reserved.
  mmap(reinterpret_cast<void*>(allocation.address), PageRound(allocation.bytes), PROT_NONE,
       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
  driver.account().Release(allocation.gpu, allocation.bytes);
  allocation.resident = false;
}

void ForgetGraphAllocation(Driver& driver, const std::shared_ptr<GraphAllocation>& allocation) {
  std::lock_guard<std::mutex> lock(driver.graph_memory_mutex);
  // Referenced by the map, the caller and nothing else: no graph node hands it out any more.
  if (allocation->resident || allocation.use_count() > 2) return;
  if (driver.graph_allocations.erase(allocation->address) > 0) {
    munmap(reinterpret_cast<void*>(allocation->address), PageRound(allocation->bytes));
  }
}

void DestroyArray(Driver& driver, CUarray_st* array) {
  if (!driver.arrays.Remove(array)) return;
  UnmapBacking(array->data, array->bytes);
  driver.account().Release(array->gpu, array->bytes);
  delete array;
}

void DestroyMipmappedArray(Driver& driver, CUmipmappedArray_st* array) {
  if (!driver.mipmapped_arrays.Remove(array)) return;
  for (const auto& level : array->levels) driver.arrays.Remove(level.get());
  UnmapBacking(array->data, array->bytes);
  driver.account().Release(array->gpu, array->bytes);
  delete array;
}

void UnloadModule(Driver& driver, CUmod_st* module) {
  if (!driver.modules.Remove(module)) return;
  {
    std::lock_guard<std::mutex> lock(module->mutex);
    for (const auto& [name, function] : module->functions) driver.functions.Remove(function.get());
    for (const auto& [name, global] : module->globals) {
      driver.memory.Erase(global.first);
      UnmapBacking(reinterpret_cast<void*>(global.first), global.second);
    }
  }
  if (module->library != nullptr) {
    std::lock_guard<std::mutex> lock(module->library->mutex);
    module->library->modules.erase(module->ctx);
  }
  delete module;
}

void ReleaseContextResources(Driver& driver, CUctx_st* ctx) {
  for (const Allocation& allocation : driver.memory.Select([ctx](const Allocation& a) {
         return a.ctx == ctx &&
                (a.kind == MemoryKind::kDevice || a.kind == MemoryKind::kManaged ||
                 a.kind == MemoryKind::kHostPinned || a.kind == MemoryKind::kHostRegistered);
       })) {
    if (driver.memory.Erase(allocation.base)) ReleaseMemory(driver, allocation);
  }
  for (CUarray_st* array :
       driver.arrays.Select([ctx](const CUarray_st& a) { return a.ctx == ctx && !a.parent; })) {
    DestroyArray(driver, array);
  }
  for (CUmipmappedArray_st* array : driver.mipmapped_arrays.Select(
           [ctx](const CUmipmappedArray_st& a) { return a.ctx == ctx; })) {
    DestroyMipmappedArray(driver, array);
  }
  for (CUmod_st* module :
       driver.modules.Select([ctx](const CUmod_st& m) { return m.ctx == ctx; })) {
    UnloadModule(driver, module);
  }
  for (CUstream_st* stream :
       driver.streams.Select([ctx](const CUstream_st& s) { return s.ctx == ctx; })) {
    if (driver.streams.Remove(stream)) delete stream;
  }
  for (CUevent_st* event :
       driver.events.Select([ctx](const CUevent_st& e) { return e.ctx == ctx; })) {
    if (driver.events.Remove(event)) delete event;
  }
}

}  // namespace gpuslice::sim::cuda
