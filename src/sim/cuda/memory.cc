// Memory entry points: plain, pitched and managed device allocations, pinned and registered
// host memory, memory info and pointer attributes.
#include <cstring>

#include "sim/cuda/driver.h"
#include "sim/cuda/resources.h"

namespace {

using gpuslice::sim::cuda::Allocation;
using gpuslice::sim::cuda::Api;
using gpuslice::sim::cuda::Driver;
using gpuslice::sim::cuda::MemoryKind;

constexpr size_t kPitchAlignment = 512;

bool IsHostKind(MemoryKind kind) {
  return kind == MemoryKind::kHostPinned || kind == MemoryKind::kHostRegistered;
}

// Allocates in the current context.
CUresult AllocateHere(Driver& driver, size_t bytes, MemoryKind kind, unsigned int host_flags,
                      CUdeviceptr* address) {
  CUctx_st* ctx = nullptr;
  const CUresult current = driver.RequireCurrent(&ctx);
  if (current != CUDA_SUCCESS) return current;
  return gpuslice::sim::cuda::AllocateMemory(driver, ctx, bytes, kind, host_flags, nullptr,
                                             address);
}

CUresult PointerAttribute(Driver& driver, CUpointer_attribute attribute, void* data,
                          CUdeviceptr ptr) {
  const std::optional<Allocation> found = driver.memory.Find(ptr);
  if (!found) return CUDA_ERROR_INVALID_VALUE;
  const Allocation& a = *found;
  switch (attribute) {
    case CU_POINTER_ATTRIBUTE_CONTEXT:
      *static_cast<CUcontext*>(data) = a.ctx;
      return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_MEMORY_TYPE:
      *static_cast<unsigned int*>(data) =
          IsHostKind(a.kind) ? CU_MEMORYTYPE_HOST : CU_MEMORYTYPE_DEVICE;
      return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_DEVICE_POINTER:
      *static_cast<CUdeviceptr*>(data) = ptr;
      return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_HOST_POINTER:
      if (!IsHostKind(a.kind) && a.kind != MemoryKind::kManaged) return CUDA_ERROR_INVALID_VALUE;
      *static_cast<void**>(data) = reinterpret_cast<void*>(ptr);
      return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_SYNC_MEMOPS:
    case CU_POINTER_ATTRIBUTE_MAPPED:
      *static_cast<unsigned int*>(data) = 1;
      return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_BUFFER_ID:
    case CU_POINTER_ATTRIBUTE_MEMORY_BLOCK_ID:
      *static_cast<unsigned long long*>(data) = a.buffer_id;
      return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_IS_MANAGED:
      *static_cast<unsigned int*>(data) = a.kind == MemoryKind::kManaged ? 1 : 0;
      return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL:
      *static_cast<int*>(data) = a.device;
      return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_IS_LEGACY_CUDA_IPC_CAPABLE:
      *static_cast<unsigned int*>(data) = a.kind == MemoryKind::kDevice ? 1 : 0;
      return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_RANGE_START_ADDR:
    case CU_POINTER_ATTRIBUTE_MAPPING_BASE_ADDR:
      *static_cast<CUdeviceptr*>(data) = a.base;
      return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_RANGE_SIZE:
    case CU_POINTER_ATTRIBUTE_MAPPING_SIZE:
      *static_cast<size_t*>(data) = a.size;
      return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_ALLOWED_HANDLE_TYPES:
      *static_cast<unsigned long long*>(data) =
          a.kind == MemoryKind::kVmmMapping ? CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR : 0;
      return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_IS_GPU_DIRECT_RDMA_CAPABLE:
    case CU_POINTER_ATTRIBUTE_IS_HW_DECOMPRESS_CAPABLE:
      *static_cast<unsigned int*>(data) = 0;
      return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_ACCESS_FLAGS:
      *static_cast<int*>(data) = a.accessible ? 0 /* read-write */ : 1 /* read-only */;
      return CUDA_SUCCESS;
    case CU_POINTER_ATTRIBUTE_MEMPOOL_HANDLE:
      *static_cast<CUmemoryPool*>(data) = a.pool;
      return CUDA_SUCCESS;
    default:
      return CUDA_ERROR_INVALID_VALUE;
  }
}

}  // namespace

GPUSLICE_CUDA_EXPORT CUresult cuMemGetInfo_v2(size_t* free, size_t* total) {
  return Api([&](Driver& driver) {
    if (free == nullptr || total == nullptr) return CUDA_ERROR_INVALID_VALUE;
    CUctx_st* ctx = nullptr;
    const CUresult current = driver.RequireCurrent(&ctx);
    if (current != CUDA_SUCCESS) return current;
    const uint64_t capacity = driver.Spec(ctx->gpu).memory_bytes;
    const uint64_t used = driver.state().MemoryUsed(ctx->gpu);
    *total = capacity;
    *free = capacity > used ? capacity - used : 0;
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuMemAlloc_v2(CUdeviceptr* dptr, size_t bytesize) {
  return Api([&](Driver& driver) {
    if (dptr == nullptr || bytesize == 0) return CUDA_ERROR_INVALID_VALUE;
    return AllocateHere(driver, bytesize, MemoryKind::kDevice, 0, dptr);
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuMemAllocPitch_v2(CUdeviceptr* dptr, size_t* pPitch,
                                                 size_t WidthInBytes, size_t Height,
                                                 unsigned int ElementSizeBytes) {
  return Api([&](Driver& driver) {
    if (dptr == nullptr || pPitch == nullptr || WidthInBytes == 0 || Height == 0 ||
        (ElementSizeBytes != 4 && ElementSizeBytes != 8 && ElementSizeBytes != 16)) {
      return CUDA_ERROR_INVALID_VALUE;
    }
    const size_t pitch = (WidthInBytes + kPitchAlignment - 1) / kPitchAlignment * kPitchAlignment;
    if (Height > SIZE_MAX / pitch) return CUDA_ERROR_OUT_OF_MEMORY;
    const CUresult result = AllocateHere(driver, pitch * Height, MemoryKind::kDevice, 0, dptr);
    if (result == CUDA_SUCCESS) *pPitch = pitch;
    return result;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuMemFree_v2(CUdeviceptr dptr) {
  return Api([&](Driver& driver) {
    if (dptr == 0) return CUDA_SUCCESS;
    return gpuslice::sim::cuda::FreeDeviceMemory(driver, dptr);
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuMemAllocManaged(CUdeviceptr* dptr, size_t bytesize,
                                                unsigned int flags) {
  return Api([&](Driver& driver) {
    if (dptr == nullptr || bytesize == 0 ||
        (flags != CU_MEM_ATTACH_GLOBAL && flags != CU_MEM_ATTACH_HOST)) {
      return CUDA_ERROR_INVALID_VALUE;
    }
    return AllocateHere(driver, bytesize, MemoryKind::kManaged, flags, dptr);
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuMemGetAddressRange_v2(CUdeviceptr* pbase, size_t* psize,
                                                      CUdeviceptr dptr) {
  return Api([&](Driver& driver) {
    const std::optional<Allocation> found = driver.memory.Find(dptr);
    if (!found || IsHostKind(found->kind)) return CUDA_ERROR_NOT_FOUND;
    if (pbase != nullptr) *pbase = found->base;
    if (psize != nullptr) *psize = found->size;
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuMemHostAlloc(void** pp, size_t bytesize, unsigned int Flags) {
  return Api([&](Driver& driver) {
    constexpr unsigned int kKnown =
        CU_MEMHOSTALLOC_PORTABLE | CU_MEMHOSTALLOC_DEVICEMAP | CU_MEMHOSTALLOC_WRITECOMBINED;
    if (pp == nullptr || bytesize == 0 || (Flags & ~kKnown) != 0) return CUDA_ERROR_INVALID_VALUE;
    CUdeviceptr address = 0;
    const CUresult result =
        AllocateHere(driver, bytesize, MemoryKind::kHostPinned, Flags, &address);
    if (result == CUDA_SUCCESS) *pp = reinterpret_cast<void*>(address);
    return result;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuMemAllocHost_v2(void** pp, size_t bytesize) {
  return cuMemHostAlloc(pp, bytesize, 0);
}

GPUSLICE_CUDA_EXPORT CUresult cuMemFreeHost(void* p) {
  return Api([&](Driver& driver) {
    const uintptr_t address = reinterpret_cast<uintptr_t>(p);
    const std::optional<Allocation> found = driver.memory.Find(address);
    if (!found || found->base != address || found->kind != MemoryKind::kHostPinned) {
      return CUDA_ERROR_INVALID_VALUE;
    }
    if (driver.memory.Erase(address)) gpuslice::sim::cuda::ReleaseMemory(driver, *found);
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuMemHostGetDevicePointer_v2(CUdeviceptr* pdptr, void* p,
                                                           unsigned int Flags) {
  return Api([&](Driver& driver) {
    if (pdptr == nullptr || Flags != 0) return CUDA_ERROR_INVALID_VALUE;
    const std::optional<Allocation> found = driver.memory.Find(reinterpret_cast<uintptr_t>(p));
    if (!found || !IsHostKind(found->kind)) return CUDA_ERROR_INVALID_VALUE;
    *pdptr = reinterpret_cast<CUdeviceptr>(p);  // unified addressing: the same address
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuMemHostGetFlags(unsigned int* pFlags, void* p) {
  return Api([&](Driver& driver) {
    if (pFlags == nullptr) return CUDA_ERROR_INVALID_VALUE;
    const std::optional<Allocation> found = driver.memory.Find(reinterpret_cast<uintptr_t>(p));
    if (!found || found->kind != MemoryKind::kHostPinned) return CUDA_ERROR_INVALID_VALUE;
    *pFlags = found->host_flags;
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuMemHostRegister_v2(void* p, size_t bytesize, unsigned int Flags) {
  return Api([&](Driver& driver) {
    constexpr unsigned int kKnown = CU_MEMHOSTREGISTER_PORTABLE | CU_MEMHOSTREGISTER_DEVICEMAP |
                                    CU_MEMHOSTREGISTER_IOMEMORY | CU_MEMHOSTREGISTER_READ_ONLY;
    if (p == nullptr || bytesize == 0 || (Flags & ~kKnown) != 0) return CUDA_ERROR_INVALID_VALUE;
    CUctx_st* ctx = nullptr;
    const CUresult current = driver.RequireCurrent(&ctx);
    if (current != CUDA_SUCCESS) return current;
    const uintptr_t address = reinterpret_cast<uintptr_t>(p);
    if (driver.memory.Find(address) || driver.memory.Find(address + bytesize - 1)) {
      return CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED;
    }
    Allocation registered;
    registered.base = address;
    registered.size = bytesize;
    registered.kind = MemoryKind::kHostRegistered;
    registered.device = ctx->device;
    registered.ctx = ctx;
    registered.buffer_id = driver.NextId();
    registered.host_flags = Flags;
    driver.memory.Insert(registered);
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuMemHostUnregister(void* p) {
  return Api([&](Driver& driver) {
    const uintptr_t address = reinterpret_cast<uintptr_t>(p);
    const std::optional<Allocation> found = driver.memory.Find(address);
    if (!found || found->base != address || found->kind != MemoryKind::kHostRegistered) {
      return CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED;
    }
    driver.memory.Erase(address);
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuPointerGetAttribute(void* data, CUpointer_attribute attribute,
                                                    CUdeviceptr ptr) {
  return Api([&](Driver& driver) {
    if (data == nullptr) return CUDA_ERROR_INVALID_VALUE;
    return PointerAttribute(driver, attribute, data, ptr);
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuPointerGetAttributes(unsigned int numAttributes,
                                                     CUpointer_attribute* attributes, void** data,
                                                     CUdeviceptr ptr) {
  return Api([&](Driver& driver) {
    if (numAttributes == 0 || attributes == nullptr || data == nullptr) {
      return CUDA_ERROR_INVALID_VALUE;
    }
    // Unlike cuPointerGetAttribute, an unknown pointer is not an error here: its attributes
    // read as zero (memory type 0, no context).
    const bool known = driver.memory.Find(ptr).has_value();
    for (unsigned int i = 0; i < numAttributes; ++i) {
      if (data[i] == nullptr) return CUDA_ERROR_INVALID_VALUE;
      if (!known) {
        switch (attributes[i]) {
          case CU_POINTER_ATTRIBUTE_CONTEXT:
            *static_cast<CUcontext*>(data[i]) = nullptr;
            break;
          case CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL:
            *static_cast<int*>(data[i]) = -2;
            break;
          case CU_POINTER_ATTRIBUTE_BUFFER_ID:
          case CU_POINTER_ATTRIBUTE_MEMORY_BLOCK_ID:
          case CU_POINTER_ATTRIBUTE_ALLOWED_HANDLE_TYPES:
            *static_cast<unsigned long long*>(data[i]) = 0;
            break;
          case CU_POINTER_ATTRIBUTE_DEVICE_POINTER:
          case CU_POINTER_ATTRIBUTE_RANGE_START_ADDR:
          case CU_POINTER_ATTRIBUTE_MAPPING_BASE_ADDR:
          case CU_POINTER_ATTRIBUTE_RANGE_SIZE:
          case CU_POINTER_ATTRIBUTE_MAPPING_SIZE:
          case CU_POINTER_ATTRIBUTE_HOST_POINTER:
          case CU_POINTER_ATTRIBUTE_MEMPOOL_HANDLE:
            *static_cast<void**>(data[i]) = nullptr;
            break;
          default:
            *static_cast<unsigned int*>(data[i]) = 0;
            break;
        }
        continue;
      }
      const CUresult result = PointerAttribute(driver, attributes[i], data[i], ptr);
      if (result != CUDA_SUCCESS && attributes[i] != CU_POINTER_ATTRIBUTE_HOST_POINTER) {
        return result;
      }
      if (result != CUDA_SUCCESS) *static_cast<void**>(data[i]) = nullptr;
    }
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuMemAdvise_v2(CUdeviceptr devPtr, size_t count, CUmem_advise advice,
                                             CUmemLocation) {
  return Api([&](Driver& driver) {
    const std::optional<Allocation> found = driver.memory.FindRange(devPtr, count);
    if (!found || found->kind != MemoryKind::kManaged || advice < CU_MEM_ADVISE_SET_READ_MOSTLY ||
        advice > CU_MEM_ADVISE_UNSET_ACCESSED_BY) {
      return CUDA_ERROR_INVALID_VALUE;
    }
    return CUDA_SUCCESS;  // placement hints change nothing when all memory is host memory
  });
}

namespace {

CUresult Prefetch(CUdeviceptr devPtr, size_t count, CUstream hStream, bool per_thread) {
  return Api([&](Driver& driver) {
    CUstream_st* stream = nullptr;
    const CUresult resolved = driver.ResolveStream(hStream, per_thread, &stream);
    if (resolved != CUDA_SUCCESS) return resolved;
    const std::optional<Allocation> found = driver.memory.FindRange(devPtr, count);
    if (!found || found->kind != MemoryKind::kManaged) return CUDA_ERROR_INVALID_VALUE;
    return CUDA_SUCCESS;
  });
}

}  // namespace

GPUSLICE_CUDA_EXPORT CUresult cuMemPrefetchAsync_v2(CUdeviceptr devPtr, size_t count, CUmemLocation,
                                                    unsigned int, CUstream hStream) {
  return Prefetch(devPtr, count, hStream, false);
}

GPUSLICE_CUDA_EXPORT CUresult cuMemPrefetchAsync_v2_ptsz(CUdeviceptr devPtr, size_t count,
                                                         CUmemLocation, unsigned int,
                                                         CUstream hStream) {
  return Prefetch(devPtr, count, hStream, true);
}
