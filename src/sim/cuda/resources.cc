#include "sim/cuda/resources.h"

#include <sys/mman.h>

#include <algorithm>

#include "sim/internal/clock.h"

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

CUresult FreeDeviceMemory(Driver& driver, CUdeviceptr address, CUstream_st* stream) {
  const std::optional<Allocation> found = driver.memory.Find(address);
  if (!found || found->base != address) return CUDA_ERROR_INVALID_VALUE;
  switch (found->kind) {
    case MemoryKind::kDevice:
    case MemoryKind::kManaged:
      if (driver.memory.Erase(address)) ReleaseMemory(driver, *found);
      return CUDA_SUCCESS;
    case MemoryKind::kPoolBlock:
      return PoolFree(driver, *found, stream);
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

CUresult PoolAllocate(Driver& driver, CUmemPoolHandle_st* pool, size_t bytes, CUstream_st* stream,
                      CUdeviceptr* address) {
  if (driver.IsLost(pool->gpu)) return CUDA_ERROR_DEVICE_UNAVAILABLE;
  std::lock_guard<std::mutex> lock(pool->mutex);
  // Reuse the smallest spare block that fits without wasting more than half of it, and that
  // this stream may use: one freed on it (stream order makes the free come first), one freed
  // synchronously, or, with opportunistic reuse, one whose free the GPU has already done.
  const uint64_t now = internal::MonotonicNs();
  for (auto spare = pool->free_blocks.lower_bound(bytes);
       spare != pool->free_blocks.end() && spare->first <= 2 * bytes; ++spare) {
    const CUmemPoolHandle_st::FreeBlock& block = spare->second;
    if (block.stream != 0 && block.stream != stream->id &&
        !(pool->opportunistic_reuse && block.ready_ns <= now)) {
      continue;
    }
    *address = block.address;
    pool->used += spare->first;
    pool->used_high = std::max(pool->used_high, pool->used);
    pool->free_blocks.erase(spare);
    return CUDA_SUCCESS;
  }
  // No block it may reuse: the pool grows, even while it keeps spare blocks.
  if (pool->props.maxSize != 0 && pool->reserved + bytes > pool->props.maxSize) {
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  if (!driver.account().Reserve(pool->gpu, bytes).ok()) {
    while (!pool->free_blocks.empty()) {
      auto largest = std::prev(pool->free_blocks.end());
      ReleaseBlock(driver, pool, largest->second.address, largest->first);
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

CUresult PoolFree(Driver& driver, const Allocation& block, CUstream_st* stream) {
  CUmemPoolHandle_st* pool = block.pool;
  bool orphan_emptied = false;
  {
    std::lock_guard<std::mutex> lock(pool->mutex);
    const auto [first, last] = pool->free_blocks.equal_range(block.size);
    for (auto it = first; it != last; ++it) {
      if (it->second.address == block.base) return CUDA_ERROR_INVALID_VALUE;  // freed twice
    }
    pool->used -= std::min(pool->used, block.size);
    if (pool->life == CUmemPoolHandle_st::Life::kLive) {
      CUmemPoolHandle_st::FreeBlock spare;
      spare.address = block.base;
      if (stream != nullptr) {
        spare.stream = stream->id;
        spare.ready_ns =
            std::max(stream->tail_ns.load(std::memory_order_acquire), internal::MonotonicNs());
      }
      pool->free_blocks.emplace(block.size, spare);
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
    ReleaseBlock(driver, pool, largest->second.address, largest->first);
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
  // Memory the device's graph pool keeps from earlier frees serves first; the pool grows by
  // the rest.
  const int gpu = allocation.gpu;
  const uint64_t spare = driver.graph_memory_reserved[gpu] - driver.graph_memory_used[gpu];
  const uint64_t growth = allocation.bytes > spare ? allocation.bytes - spare : 0;
  if (growth > 0 && !driver.account().Reserve(gpu, growth).ok()) return CUDA_ERROR_OUT_OF_MEMORY;
  if (mprotect(reinterpret_cast<void*>(allocation.address), PageRound(allocation.bytes),
               PROT_READ | PROT_WRITE) != 0) {
    if (growth > 0) driver.account().Release(gpu, growth);
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  Allocation range;
  range.base = allocation.address;
  range.size = allocation.bytes;
  range.kind = MemoryKind::kGraph;
  range.gpu = gpu;
  range.device = allocation.device;
  range.buffer_id = driver.NextId();
  driver.memory.Insert(range);
  allocation.resident = true;
  driver.graph_memory_reserved[gpu] += growth;
  driver.graph_memory_used[gpu] += allocation.bytes;
  driver.graph_memory_used_high[gpu] =
      std::max(driver.graph_memory_used_high[gpu], driver.graph_memory_used[gpu]);
  driver.graph_memory_reserved_high[gpu] =
      std::max(driver.graph_memory_reserved_high[gpu], driver.graph_memory_reserved[gpu]);
  return CUDA_SUCCESS;
}

void UnmapGraphAllocation(Driver& driver, GraphAllocation& allocation) {
  std::lock_guard<std::mutex> lock(driver.graph_memory_mutex);
  if (!allocation.resident) return;
  driver.memory.Erase(allocation.address);
  // Replacing the pages with fresh inaccessible ones frees them and keeps the range reserved.
  mmap(reinterpret_cast<void*>(allocation.address), PageRound(allocation.bytes), PROT_NONE,
       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
  // The device's graph pool keeps the memory (still on the GPU) until a trim.
  driver.graph_memory_used[allocation.gpu] -= allocation.bytes;
  allocation.resident = false;
}

void TrimGraphMemory(Driver& driver, int gpu) {
  std::lock_guard<std::mutex> lock(driver.graph_memory_mutex);
  const uint64_t spare = driver.graph_memory_reserved[gpu] - driver.graph_memory_used[gpu];
  if (spare > 0) driver.account().Release(gpu, spare);
  driver.graph_memory_reserved[gpu] = driver.graph_memory_used[gpu];
}

void ForgetGraphAllocation(Driver& driver, const std::shared_ptr<GraphAllocation>& allocation) {
  std::lock_guard<std::mutex> lock(driver.graph_memory_mutex);
  // Referenced by the map, the caller and nothing else: no graph node hands it out any more.
  if (allocation->resident || allocation.use_count() > 2) return;
  if (driver.graph_allocations.erase(allocation->address) > 0) {
    munmap(reinterpret_cast<void*>(allocation->address), PageRound(allocation->bytes));
  }
}

namespace {

// Device memory `value` of `limit` reserves on `gpu`, 0 for limits that reserve none.
uint64_t LimitBytes(const GpuSpec& gpu, CUlimit limit, size_t value) {
  switch (limit) {
    case CU_LIMIT_STACK_SIZE:
      return uint64_t{value} * static_cast<uint64_t>(gpu.sm_count) *
             static_cast<uint64_t>(gpu.max_threads_per_sm);
    case CU_LIMIT_MALLOC_HEAP_SIZE:
    case CU_LIMIT_PRINTF_FIFO_SIZE:
      return value;
    case CU_LIMIT_DEV_RUNTIME_PENDING_LAUNCH_COUNT:
      return uint64_t{value} * kPendingLaunchBytes;
    default:
      return 0;
  }
}

// What the limits reserve beyond the defaults the context's own memory covers.
uint64_t LimitReservation(const GpuSpec& gpu, const size_t limits[CU_LIMIT_MAX]) {
  size_t defaults[CU_LIMIT_MAX] = {};
  DefaultLimits(gpu, defaults);
  uint64_t bytes = 0;
  for (int limit = 0; limit < CU_LIMIT_MAX; ++limit) {
    const uint64_t wanted = LimitBytes(gpu, static_cast<CUlimit>(limit), limits[limit]);
    const uint64_t included = LimitBytes(gpu, static_cast<CUlimit>(limit), defaults[limit]);
    if (wanted > included) bytes += wanted - included;
  }
  return bytes;
}

// REQUIRES: ctx->mutex held.
CUresult SetLimitLocked(Driver& driver, CUctx_st* ctx, CUlimit limit, size_t value) {
  const size_t previous = ctx->limits[limit];
  ctx->limits[limit] = value;
  const uint64_t wanted = LimitReservation(driver.Spec(ctx->gpu), ctx->limits);
  if (wanted > ctx->limit_bytes) {
    if (driver.IsLost(ctx->gpu)) {
      ctx->limits[limit] = previous;
      return CUDA_ERROR_DEVICE_UNAVAILABLE;
    }
    if (!driver.account().Reserve(ctx->gpu, wanted - ctx->limit_bytes).ok()) {
      ctx->limits[limit] = previous;
      return CUDA_ERROR_OUT_OF_MEMORY;
    }
  } else if (wanted < ctx->limit_bytes) {
    driver.account().Release(ctx->gpu, ctx->limit_bytes - wanted);
  }
  ctx->limit_bytes = wanted;
  return CUDA_SUCCESS;
}

}  // namespace

void DefaultLimits(const GpuSpec& gpu, size_t limits[CU_LIMIT_MAX]) {
  limits[CU_LIMIT_STACK_SIZE] = 1024;
  limits[CU_LIMIT_PRINTF_FIFO_SIZE] = 1 << 20;
  limits[CU_LIMIT_MALLOC_HEAP_SIZE] = 8 << 20;
  limits[CU_LIMIT_DEV_RUNTIME_SYNC_DEPTH] = 2;
  limits[CU_LIMIT_DEV_RUNTIME_PENDING_LAUNCH_COUNT] = 2048;
  limits[CU_LIMIT_MAX_L2_FETCH_GRANULARITY] = 64;
  limits[CU_LIMIT_PERSISTING_L2_CACHE_SIZE] = 0;
  limits[CU_LIMIT_SHMEM_SIZE] = static_cast<size_t>(gpu.shared_memory_per_sm);
}

CUresult SetContextLimit(Driver& driver, CUctx_st* ctx, CUlimit limit, size_t value) {
  std::lock_guard<std::mutex> lock(ctx->mutex);
  return SetLimitLocked(driver, ctx, limit, value);
}

CUresult GrowStackForLaunch(Driver& driver, CUctx_st* ctx) {
  const uint64_t needed = driver.Spec(ctx->gpu).kernel_local_memory_bytes;
  if (needed == 0) return CUDA_SUCCESS;
  std::lock_guard<std::mutex> lock(ctx->mutex);
  if (ctx->limits[CU_LIMIT_STACK_SIZE] >= needed) return CUDA_SUCCESS;
  return SetLimitLocked(driver, ctx, CU_LIMIT_STACK_SIZE, static_cast<size_t>(needed));
}

CUresult LoadModuleCode(Driver& driver, CUmod_st* module) {
  std::lock_guard<std::mutex> lock(module->mutex);
  if (module->loaded) return CUDA_SUCCESS;
  const int gpu = module->ctx->gpu;
  const uint64_t bytes = driver.Spec(gpu).module_memory_bytes;
  if (bytes > 0) {
    if (driver.IsLost(gpu)) return CUDA_ERROR_DEVICE_UNAVAILABLE;
    if (!driver.account().Reserve(gpu, bytes).ok()) return CUDA_ERROR_OUT_OF_MEMORY;
  }
  module->device_bytes = bytes;
  module->loaded = true;
  return CUDA_SUCCESS;
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
    if (module->device_bytes > 0) driver.account().Release(module->ctx->gpu, module->device_bytes);
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
