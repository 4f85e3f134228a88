// Stream-ordered allocation and memory pools. Freed blocks stay in their pool (still counted
// on the GPU, as with the real driver) until synchronization trims the pool to its release
// threshold or the GPU needs the memory. A block serves a later allocation only where the real
// driver may reuse it (its size fits, and the stream may: objects.h); otherwise the pool
// grows, so a pool can hold more than its cached blocks suggest it needs.
#include <memory>

#include "sim/cuda/driver.h"
#include "sim/cuda/graph_ops.h"
#include "sim/cuda/resources.h"

namespace {

using gpuslice::sim::cuda::Allocation;
using gpuslice::sim::cuda::Api;
using gpuslice::sim::cuda::Driver;
using gpuslice::sim::cuda::MemoryKind;

CUmemPoolHandle_st* NewPool(Driver& driver, CUdevice device, bool is_default) {
  auto* pool = new CUmemPoolHandle_st();
  pool->device = device;
  pool->gpu = driver.GpuOf(device);
  pool->is_default = is_default;
  pool->props.allocType = CU_MEM_ALLOCATION_TYPE_PINNED;
  pool->props.location = {CU_MEM_LOCATION_TYPE_DEVICE, device};
  driver.pools.Add(pool);
  return pool;
}

CUresult AllocAsync(CUdeviceptr* dptr, size_t bytesize, CUmemoryPool pool, CUstream hStream,
                    bool per_thread) {
  return Api([&](Driver& driver) {
    if (dptr == nullptr || bytesize == 0) return CUDA_ERROR_INVALID_VALUE;
    CUstream_st* stream = nullptr;
    const CUresult resolved = driver.ResolveStream(hStream, per_thread, &stream);
    if (resolved != CUDA_SUCCESS) return resolved;
    if (pool == nullptr) {
      pool = driver.CurrentPool(stream->ctx->device);
    } else if (!driver.pools.Contains(pool)) {
      return CUDA_ERROR_INVALID_VALUE;
    }
    if (gpuslice::sim::cuda::IsCapturing(stream)) {
      std::unique_ptr<CUgraphNode_st> node;
      const CUresult made =
          gpuslice::sim::cuda::MakeAllocNode(driver, stream->ctx->device, bytesize, &node);
      if (made != CUDA_SUCCESS) return made;
      const CUdeviceptr address = node->alloc.dptr;
      CUresult captured = CUDA_SUCCESS;
      if (gpuslice::sim::cuda::CaptureNode(driver, stream, std::move(node), &captured)) {
        if (captured == CUDA_SUCCESS) *dptr = address;
        return captured;
      }
    }
    return gpuslice::sim::cuda::PoolAllocate(driver, pool, bytesize, stream, dptr);
  });
}

CUresult FreeAsync(CUdeviceptr dptr, CUstream hStream, bool per_thread) {
  return Api([&](Driver& driver) {
    CUstream_st* stream = nullptr;
    const CUresult resolved = driver.ResolveStream(hStream, per_thread, &stream);
    if (resolved != CUDA_SUCCESS) return resolved;
    const std::optional<Allocation> found = driver.memory.Find(dptr);
    auto node = std::make_unique<CUgraphNode_st>();
    node->type = CU_GRAPH_NODE_TYPE_MEM_FREE;
    node->free_address = dptr;
    CUresult captured = CUDA_SUCCESS;
    if (gpuslice::sim::cuda::CaptureNode(driver, stream, std::move(node), &captured)) {
      return captured;
    }
    if (!found || found->base != dptr) return CUDA_ERROR_INVALID_VALUE;
    return gpuslice::sim::cuda::FreeDeviceMemory(driver, dptr, stream);
  });
}

// Runs `body(pool)` for a live pool.
template <typename Body>
CUresult WithPool(CUmemoryPool pool, Body body) {
  return Api([&](Driver& driver) {
    if (!driver.pools.Contains(pool)) return CUDA_ERROR_INVALID_VALUE;
    return body(driver, pool);
  });
}

// The device a memory location names, for the CUDA 13 pool lookups.
CUresult LocationDevice(Driver& driver, const CUmemLocation* location, CUmemAllocationType type,
                        CUdevice* device) {
  if (location == nullptr) return CUDA_ERROR_INVALID_VALUE;
  if (type != CU_MEM_ALLOCATION_TYPE_PINNED || location->type != CU_MEM_LOCATION_TYPE_DEVICE) {
    return CUDA_ERROR_NOT_SUPPORTED;  // host and managed pools are not simulated
  }
  if (driver.CheckDevice(location->id) != CUDA_SUCCESS) return CUDA_ERROR_INVALID_DEVICE;
  *device = location->id;
  return CUDA_SUCCESS;
}

}  // namespace

namespace gpuslice::sim::cuda {

CUmemPoolHandle_st* Driver::DefaultPool(CUdevice device) {
  std::lock_guard<std::mutex> lock(pool_mutex_);
  if (default_pools_.empty()) {
    default_pools_.resize(visible_.size(), nullptr);
    current_pools_.resize(visible_.size(), nullptr);
  }
  CUmemPoolHandle_st*& pool = default_pools_[static_cast<size_t>(device)];
  if (pool == nullptr) pool = NewPool(*this, device, /*is_default=*/true);
  return pool;
}

CUmemPoolHandle_st* Driver::CurrentPool(CUdevice device) {
  CUmemPoolHandle_st* fallback = DefaultPool(device);
  std::lock_guard<std::mutex> lock(pool_mutex_);
  CUmemPoolHandle_st* current = current_pools_[static_cast<size_t>(device)];
  return current != nullptr && pools.Contains(current) ? current : fallback;
}

void Driver::SetCurrentPool(CUdevice device, CUmemPoolHandle_st* pool) {
  DefaultPool(device);
  std::lock_guard<std::mutex> lock(pool_mutex_);
  current_pools_[static_cast<size_t>(device)] = pool;
}

}  // namespace gpuslice::sim::cuda

GPUSLICE_CUDA_EXPORT CUresult cuMemAllocAsync(CUdeviceptr* dptr, size_t bytesize,
                                              CUstream hStream) {
  return AllocAsync(dptr, bytesize, nullptr, hStream, false);
}

GPUSLICE_CUDA_EXPORT CUresult cuMemAllocAsync_ptsz(CUdeviceptr* dptr, size_t bytesize,
                                                   CUstream hStream) {
  return AllocAsync(dptr, bytesize, nullptr, hStream, true);
}

GPUSLICE_CUDA_EXPORT CUresult cuMemAllocFromPoolAsync(CUdeviceptr* dptr, size_t bytesize,
                                                      CUmemoryPool pool, CUstream hStream) {
  if (pool == nullptr) return CUDA_ERROR_INVALID_VALUE;
  return AllocAsync(dptr, bytesize, pool, hStream, false);
}

GPUSLICE_CUDA_EXPORT CUresult cuMemAllocFromPoolAsync_ptsz(CUdeviceptr* dptr, size_t bytesize,
                                                           CUmemoryPool pool, CUstream hStream) {
  if (pool == nullptr) return CUDA_ERROR_INVALID_VALUE;
  return AllocAsync(dptr, bytesize, pool, hStream, true);
}

GPUSLICE_CUDA_EXPORT CUresult cuMemFreeAsync(CUdeviceptr dptr, CUstream hStream) {
  return FreeAsync(dptr, hStream, false);
}

GPUSLICE_CUDA_EXPORT CUresult cuMemFreeAsync_ptsz(CUdeviceptr dptr, CUstream hStream) {
  return FreeAsync(dptr, hStream, true);
}

GPUSLICE_CUDA_EXPORT CUresult cuMemPoolCreate(CUmemoryPool* pool, const CUmemPoolProps* poolProps) {
  return Api([&](Driver& driver) {
    if (pool == nullptr || poolProps == nullptr ||
        poolProps->allocType != CU_MEM_ALLOCATION_TYPE_PINNED ||
        (poolProps->handleTypes & ~CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR) != 0) {
      return CUDA_ERROR_INVALID_VALUE;
    }
    if (poolProps->location.type != CU_MEM_LOCATION_TYPE_DEVICE) return CUDA_ERROR_NOT_SUPPORTED;
    if (driver.CheckDevice(poolProps->location.id) != CUDA_SUCCESS)
      return CUDA_ERROR_INVALID_DEVICE;
    CUmemPoolHandle_st* created = NewPool(driver, poolProps->location.id, /*is_default=*/false);
    created->props = *poolProps;
    *pool = created;
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuMemPoolDestroy(CUmemoryPool pool) {
  return WithPool(pool, [](Driver& driver, CUmemPoolHandle_st* target) {
    if (target->is_default) return CUDA_ERROR_INVALID_VALUE;
    // Blocks still in use go back to the GPU when they are freed; until the last one is,
    // the pool object stays behind for them, no longer reachable as a handle.
    driver.pools.Remove(target);
    {
      std::lock_guard<std::mutex> lock(target->mutex);
      target->life = CUmemPoolHandle_st::Life::kDestroying;
    }
    gpuslice::sim::cuda::PoolTrim(driver, target, 0);
    {
      std::lock_guard<std::mutex> lock(target->mutex);
      if (!target->blocks.empty()) {
        target->life = CUmemPoolHandle_st::Life::kOrphaned;  // the last free deletes it
        return CUDA_SUCCESS;
      }
    }
    delete target;
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuMemPoolTrimTo(CUmemoryPool pool, size_t minBytesToKeep) {
  return WithPool(pool, [&](Driver& driver, CUmemPoolHandle_st* target) {
    gpuslice::sim::cuda::PoolTrim(driver, target, minBytesToKeep);
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuMemPoolSetAttribute(CUmemoryPool pool, CUmemPool_attribute attr,
                                                    void* value) {
  return WithPool(pool, [&](Driver&, CUmemPoolHandle_st* target) {
    if (value == nullptr) return CUDA_ERROR_INVALID_VALUE;
    std::lock_guard<std::mutex> lock(target->mutex);
    switch (attr) {
      case CU_MEMPOOL_ATTR_REUSE_ALLOW_OPPORTUNISTIC:
        target->opportunistic_reuse = *static_cast<int*>(value) != 0;
        return CUDA_SUCCESS;
      case CU_MEMPOOL_ATTR_REUSE_FOLLOW_EVENT_DEPENDENCIES:
      case CU_MEMPOOL_ATTR_REUSE_ALLOW_INTERNAL_DEPENDENCIES:
        // Accepted; the simulation never makes a stream wait on another to reuse a block, so
        // such reuse never happens and the pool grows instead, as a real one may.
        return CUDA_SUCCESS;
      case CU_MEMPOOL_ATTR_RELEASE_THRESHOLD:
        target->release_threshold = *static_cast<cuuint64_t*>(value);
        return CUDA_SUCCESS;
      case CU_MEMPOOL_ATTR_RESERVED_MEM_HIGH:
        if (*static_cast<cuuint64_t*>(value) != 0) return CUDA_ERROR_INVALID_VALUE;
        target->reserved_high = target->reserved;
        return CUDA_SUCCESS;
      case CU_MEMPOOL_ATTR_USED_MEM_HIGH:
        if (*static_cast<cuuint64_t*>(value) != 0) return CUDA_ERROR_INVALID_VALUE;
        target->used_high = target->used;
        return CUDA_SUCCESS;
      default:
        return CUDA_ERROR_INVALID_VALUE;
    }
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuMemPoolGetAttribute(CUmemoryPool pool, CUmemPool_attribute attr,
                                                    void* value) {
  return WithPool(pool, [&](Driver&, CUmemPoolHandle_st* target) {
    if (value == nullptr) return CUDA_ERROR_INVALID_VALUE;
    std::lock_guard<std::mutex> lock(target->mutex);
    switch (attr) {
      case CU_MEMPOOL_ATTR_REUSE_ALLOW_OPPORTUNISTIC:
        *static_cast<int*>(value) = target->opportunistic_reuse ? 1 : 0;
        return CUDA_SUCCESS;
      case CU_MEMPOOL_ATTR_REUSE_FOLLOW_EVENT_DEPENDENCIES:
      case CU_MEMPOOL_ATTR_REUSE_ALLOW_INTERNAL_DEPENDENCIES:
        *static_cast<int*>(value) = 1;
        return CUDA_SUCCESS;
      case CU_MEMPOOL_ATTR_RELEASE_THRESHOLD:
        *static_cast<cuuint64_t*>(value) = target->release_threshold;
        return CUDA_SUCCESS;
      case CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT:
        *static_cast<cuuint64_t*>(value) = target->reserved;
        return CUDA_SUCCESS;
      case CU_MEMPOOL_ATTR_RESERVED_MEM_HIGH:
        *static_cast<cuuint64_t*>(value) = target->reserved_high;
        return CUDA_SUCCESS;
      case CU_MEMPOOL_ATTR_USED_MEM_CURRENT:
        *static_cast<cuuint64_t*>(value) = target->used;
        return CUDA_SUCCESS;
      case CU_MEMPOOL_ATTR_USED_MEM_HIGH:
        *static_cast<cuuint64_t*>(value) = target->used_high;
        return CUDA_SUCCESS;
      default:
        return CUDA_ERROR_INVALID_VALUE;
    }
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuMemPoolSetAccess(CUmemoryPool pool, const CUmemAccessDesc* map,
                                                 size_t count) {
  return WithPool(pool, [&](Driver& driver, CUmemPoolHandle_st*) {
    if (map == nullptr && count > 0) return CUDA_ERROR_INVALID_VALUE;
    for (size_t i = 0; i < count; ++i) {
      if (map[i].location.type != CU_MEM_LOCATION_TYPE_DEVICE ||
          driver.CheckDevice(map[i].location.id) != CUDA_SUCCESS) {
        return CUDA_ERROR_INVALID_DEVICE;
      }
    }
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuMemPoolGetAccess(CUmemAccess_flags* flags, CUmemoryPool memPool,
                                                 CUmemLocation* location) {
  return WithPool(memPool, [&](Driver& driver, CUmemPoolHandle_st*) {
    if (flags == nullptr || location == nullptr) return CUDA_ERROR_INVALID_VALUE;
    if (location->type != CU_MEM_LOCATION_TYPE_DEVICE ||
        driver.CheckDevice(location->id) != CUDA_SUCCESS) {
      return CUDA_ERROR_INVALID_DEVICE;
    }
    *flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;  // every simulated device reaches host memory
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuMemGetDefaultMemPool(CUmemoryPool* pool_out,
                                                     CUmemLocation* location,
                                                     CUmemAllocationType type) {
  return Api([&](Driver& driver) {
    CUdevice device = 0;
    const CUresult valid = LocationDevice(driver, location, type, &device);
    if (valid != CUDA_SUCCESS) return valid;
    if (pool_out == nullptr) return CUDA_ERROR_INVALID_VALUE;
    *pool_out = driver.DefaultPool(device);
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuMemGetMemPool(CUmemoryPool* pool_out, CUmemLocation* location,
                                              CUmemAllocationType type) {
  return Api([&](Driver& driver) {
    CUdevice device = 0;
    const CUresult valid = LocationDevice(driver, location, type, &device);
    if (valid != CUDA_SUCCESS) return valid;
    if (pool_out == nullptr) return CUDA_ERROR_INVALID_VALUE;
    *pool_out = driver.CurrentPool(device);
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuMemSetMemPool(CUmemLocation* location, CUmemAllocationType type,
                                              CUmemoryPool pool) {
  return Api([&](Driver& driver) {
    CUdevice device = 0;
    const CUresult valid = LocationDevice(driver, location, type, &device);
    if (valid != CUDA_SUCCESS) return valid;
    if (!driver.pools.Contains(pool) || pool->device != device) return CUDA_ERROR_INVALID_VALUE;
    driver.SetCurrentPool(device, pool);
    return CUDA_SUCCESS;
  });
}
