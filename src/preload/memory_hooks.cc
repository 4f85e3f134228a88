// Hooks of every device-memory allocation path and its free: each allocation is charged to
// its slice before the driver sees it and refused with CUDA_ERROR_OUT_OF_MEMORY when the
// container would pass the limit; each free gives the charge back when the driver frees the
// memory (for physical allocations, only once they are released and unmapped).
#include "core/abi/cuda.h"
#include "preload/hooks.h"
#include "preload/internal/hook_support.h"

namespace gpuslice::preload {
namespace {

using internal::CallDriver;
using internal::FreeCounted;
using internal::PendingCharge;
using internal::Refusal;
using internal::ToCuResult;

// Pitched rows are padded to at most this many bytes; the exact pitch corrects the charge.
constexpr uint64_t kMaxPitchAlignment = 512;

// Charges `bytes` on `slice`, calls the driver behind `Hook` with `args`, and on success
// records `*handle` as what frees the charge.
template <auto Hook, typename Handle, typename... Args>
CUresult AllocateCounted(int slice, uint64_t bytes, AllocationKind kind, Handle* handle,
                         Args... args) {
  PendingCharge charge(Runtime::Get(), slice, bytes);
  if (!charge.fits()) return ToCuResult(Refusal::kOverLimit);
  const CUresult result = CallDriver<Hook>(args...);
  if (result == CUDA_SUCCESS) charge.Commit(kind, static_cast<uint64_t>(*handle));
  return result;
}

template <auto Hook, typename Pointer, typename Size>
CUresult AllocateOnCurrentDevice(Pointer* dptr, Size bytesize) {
  Runtime& runtime = Runtime::Get();
  if (!runtime.enforcing()) return CallDriver<Hook>(dptr, bytesize);
  return AllocateCounted<Hook>(runtime.SliceOfCurrentContext(), bytesize,
                               AllocationKind::kDevicePointer, dptr, dptr, bytesize);
}

template <auto Hook, auto Free, typename Pointer, typename Size>
CUresult AllocatePitch(Pointer* dptr, Size* pitch, Size width, Size height, unsigned int element) {
  Runtime& runtime = Runtime::Get();
  if (!runtime.enforcing()) return CallDriver<Hook>(dptr, pitch, width, height, element);
  const uint64_t padded_width = (static_cast<uint64_t>(width) + kMaxPitchAlignment - 1) /
                                kMaxPitchAlignment * kMaxPitchAlignment;
  PendingCharge charge(runtime, runtime.SliceOfCurrentContext(), padded_width * height);
  if (!charge.fits()) return ToCuResult(Refusal::kOverLimit);
  const CUresult result = CallDriver<Hook>(dptr, pitch, width, height, element);
  if (result != CUDA_SUCCESS) return result;
  if (!charge.Resize(static_cast<uint64_t>(*pitch) * height)) {
    CallDriver<Free>(*dptr);
    return ToCuResult(Refusal::kOverLimit);
  }
  charge.Commit(AllocationKind::kDevicePointer, *dptr);
  return result;
}

// Frees a device pointer, whichever way it was charged: to its pool (pool_charges.h) or on
// its own.
template <typename Free>
CUresult FreeDevicePointerWith(CUdeviceptr dptr, Free free) {
  Runtime& runtime = Runtime::Get();
  if (runtime.enforcing()) {
    if (std::optional<CUresult> pooled = runtime.pool_charges().Free(runtime, dptr, free)) {
      return *pooled;
    }
  }
  return FreeCounted(AllocationKind::kDevicePointer, dptr, free);
}

template <auto Hook, typename Pointer>
CUresult FreeDevicePointer(Pointer dptr) {
  return FreeDevicePointerWith(dptr, [&] { return CallDriver<Hook>(dptr); });
}

// The pool cuMemAllocAsync on `stream` takes from: its device's current pool; nullptr when the
// driver cannot say.
CUmemoryPool CurrentPoolOfStream(Runtime& runtime, CUstream stream) {
  static const auto device_pool =
      internal::DriverFunction<decltype(&cuDeviceGetMemPool)>("cuDeviceGetMemPool");
  const CUdevice device = runtime.DeviceOfStream(stream);
  CUmemoryPool pool = nullptr;
  if (device < 0 || device_pool == nullptr || device_pool(&pool, device) != CUDA_SUCCESS) {
    return nullptr;
  }
  return pool;
}

// An allocation on a stream being captured is an allocation node of the captured graph, made
// at every launch: it belongs to the capture and then to the graph the capture yields, and is
// charged as graph memory (graph_memory.h).
template <auto Hook, typename... Args>
CUresult AllocateForCapture(int slice, uint64_t capture, CUstream stream, size_t bytesize,
                            Args... args) {
  if (slice < 0) return CallDriver<Hook>(args...);
  Runtime& runtime = Runtime::Get();
  const auto add = [&] {
    return runtime.graph_memory().AddNode(
        runtime.ledger(), slice, runtime.DeviceOfStream(stream), bytesize, capture,
        /*captured=*/true, internal::StreamKey(stream), [&] { return CallDriver<Hook>(args...); });
  };
  std::optional<CUresult> result = add();
  if (!result) {
    runtime.Reconcile(slice);
    result = add();
  }
  return result ? *result : ToCuResult(Refusal::kOverLimit);
}

// A stream-ordered allocation from `pool` (nullptr: the stream's device's current pool),
// charged to the pool; to the capture while the stream is being captured into a graph; on its
// own when the driver cannot report on the pool. `stream` is the stream as every entry point
// names it (internal::PerThreadStream).
template <auto Hook, typename... Args>
CUresult AllocateStreamOrdered(CUdeviceptr* dptr, size_t bytesize, CUmemoryPool pool,
                               CUstream stream, Args... args) {
  Runtime& runtime = Runtime::Get();
  if (!runtime.enforcing()) return CallDriver<Hook>(args...);
  const int slice = runtime.SliceOfStream(stream);
  if (const std::optional<uint64_t> capture = internal::CaptureOf(stream)) {
    return AllocateForCapture<Hook>(slice, *capture, stream, bytesize, args...);
  }
  if (slice >= 0 && dptr != nullptr) {
    if (pool == nullptr) pool = CurrentPoolOfStream(runtime, stream);
    if (pool != nullptr) {
      if (std::optional<CUresult> pooled =
              runtime.pool_charges().Allocate(runtime, slice, pool, bytesize, stream, dptr,
                                              [&] { return CallDriver<Hook>(args...); })) {
        return *pooled;
      }
    }
  }
  return AllocateCounted<Hook>(slice, bytesize, AllocationKind::kDevicePointer, dptr, args...);
}

// `named`: `stream` as every entry point names it (internal::PerThreadStream for _ptsz).
template <auto Hook>
CUresult AllocateAsync(CUdeviceptr* dptr, size_t bytesize, CUstream stream, CUstream named) {
  return AllocateStreamOrdered<Hook>(dptr, bytesize, nullptr, named, dptr, bytesize, stream);
}

template <auto Hook>
CUresult AllocateFromPool(CUdeviceptr* dptr, size_t bytesize, CUmemoryPool pool, CUstream stream,
                          CUstream named) {
  return AllocateStreamOrdered<Hook>(dptr, bytesize, pool, named, dptr, bytesize, pool, stream);
}

using internal::GiveBackUnmapped;
using internal::RefundPhysical;

void Unmapped(Runtime& runtime, CUdeviceptr address, size_t size) {
  GiveBackUnmapped(runtime, runtime.physical_handles().Unmapped(address, size));
}

// The tile of an array that `info` maps or unmaps.
ArrayTile TileOf(const CUarrayMapInfo& info) {
  ArrayTile tile;
  tile.array = info.resourceType == CU_RESOURCE_TYPE_MIPMAPPED_ARRAY
                   ? reinterpret_cast<uint64_t>(info.resource.mipmap)
                   : reinterpret_cast<uint64_t>(info.resource.array);
  tile.kind = static_cast<uint32_t>(info.subresourceType);
  if (info.subresourceType == CU_ARRAY_SPARSE_SUBRESOURCE_TYPE_MIPTAIL) {
    tile.layer = info.subresource.miptail.layer;
    tile.x = info.subresource.miptail.offset;
    tile.width = info.subresource.miptail.size;
    return tile;
  }
  const auto& level = info.subresource.sparseLevel;
  tile.level = level.level;
  tile.layer = level.layer;
  tile.x = level.offsetX;
  tile.y = level.offsetY;
  tile.z = level.offsetZ;
  tile.width = level.extentWidth;
  tile.height = level.extentHeight;
  tile.depth = level.extentDepth;
  return tile;
}

// cuMemMapArrayAsync: physical memory mapped into an array's tiles stays in use (and charged)
// until every mapping of it is gone.
template <auto Hook>
CUresult MapArrayAsync(CUarrayMapInfo* infos, unsigned int count, CUstream stream) {
  Runtime& runtime = Runtime::Get();
  internal::FreeCall call(runtime);
  const CUresult result = CallDriver<Hook>(infos, count, stream);
  if (result != CUDA_SUCCESS || !runtime.enforcing() || infos == nullptr) return result;
  for (unsigned int i = 0; i < count; ++i) {
    const CUarrayMapInfo& info = infos[i];
    if (info.memHandleType != CU_MEM_HANDLE_TYPE_GENERIC) continue;
    if (info.memOperationType == CU_MEM_OPERATION_TYPE_MAP) {
      runtime.physical_handles().MappedTile(TileOf(info), info.memHandle.memHandle);
    } else if (info.memOperationType == CU_MEM_OPERATION_TYPE_UNMAP) {
      GiveBackUnmapped(runtime, runtime.physical_handles().UnmappedTile(TileOf(info)));
    }
  }
  return result;
}

// A free on a stream being captured frees nothing until the captured graph runs. Memory
// allocated for a capture is its graph's and no free gives it back (graph_memory.h); a pool's
// charge follows what the pool reserves, which such a free leaves as it is. Memory allocated
// before the capture and charged on its own is given back at once, as if freed then (known
// imprecision: until the graph runs, the container can allocate it again while it is in use).
template <auto Hook>
CUresult FreeAsync(CUdeviceptr dptr, CUstream stream) {
  return FreeDevicePointerWith(dptr, [&] { return CallDriver<Hook>(dptr, stream); });
}

}  // namespace
}  // namespace gpuslice::preload

using gpuslice::preload::AllocationKind;
using gpuslice::preload::Runtime;
namespace hooks = gpuslice::preload;

GPUSLICE_HOOK CUresult cuMemAlloc(CUdeviceptr_v1* dptr, unsigned int bytesize) {
  return hooks::AllocateOnCurrentDevice<cuMemAlloc>(dptr, bytesize);
}

GPUSLICE_HOOK CUresult cuMemAlloc_v2(CUdeviceptr* dptr, size_t bytesize) {
  return hooks::AllocateOnCurrentDevice<cuMemAlloc_v2>(dptr, bytesize);
}

GPUSLICE_HOOK CUresult cuMemAllocManaged(CUdeviceptr* dptr, size_t bytesize, unsigned int flags) {
  Runtime& runtime = Runtime::Get();
  if (!runtime.enforcing())
    return hooks::internal::CallDriver<cuMemAllocManaged>(dptr, bytesize, flags);
  return hooks::AllocateCounted<cuMemAllocManaged>(runtime.SliceOfCurrentContext(), bytesize,
                                                   AllocationKind::kDevicePointer, dptr, dptr,
                                                   bytesize, flags);
}

GPUSLICE_HOOK CUresult cuMemAllocPitch(CUdeviceptr_v1* dptr, unsigned int* pitch,
                                       unsigned int width, unsigned int height,
                                       unsigned int element) {
  return hooks::AllocatePitch<cuMemAllocPitch, cuMemFree>(dptr, pitch, width, height, element);
}

GPUSLICE_HOOK CUresult cuMemAllocPitch_v2(CUdeviceptr* dptr, size_t* pitch, size_t width,
                                          size_t height, unsigned int element) {
  return hooks::AllocatePitch<cuMemAllocPitch_v2, cuMemFree_v2>(dptr, pitch, width, height,
                                                                element);
}

GPUSLICE_HOOK CUresult cuMemFree(CUdeviceptr_v1 dptr) {
  return hooks::FreeDevicePointer<cuMemFree>(dptr);
}

GPUSLICE_HOOK CUresult cuMemFree_v2(CUdeviceptr dptr) {
  return hooks::FreeDevicePointer<cuMemFree_v2>(dptr);
}

GPUSLICE_HOOK CUresult cuMemAllocAsync(CUdeviceptr* dptr, size_t bytesize, CUstream stream) {
  return hooks::AllocateAsync<cuMemAllocAsync>(dptr, bytesize, stream, stream);
}

GPUSLICE_HOOK CUresult cuMemAllocAsync_ptsz(CUdeviceptr* dptr, size_t bytesize, CUstream stream) {
  return hooks::AllocateAsync<cuMemAllocAsync_ptsz>(dptr, bytesize, stream,
                                                    hooks::internal::PerThreadStream(stream));
}

GPUSLICE_HOOK CUresult cuMemAllocFromPoolAsync(CUdeviceptr* dptr, size_t bytesize,
                                               CUmemoryPool pool, CUstream stream) {
  return hooks::AllocateFromPool<cuMemAllocFromPoolAsync>(dptr, bytesize, pool, stream, stream);
}

GPUSLICE_HOOK CUresult cuMemAllocFromPoolAsync_ptsz(CUdeviceptr* dptr, size_t bytesize,
                                                    CUmemoryPool pool, CUstream stream) {
  return hooks::AllocateFromPool<cuMemAllocFromPoolAsync_ptsz>(
      dptr, bytesize, pool, stream, hooks::internal::PerThreadStream(stream));
}

GPUSLICE_HOOK CUresult cuMemFreeAsync(CUdeviceptr dptr, CUstream stream) {
  return hooks::FreeAsync<cuMemFreeAsync>(dptr, stream);
}

GPUSLICE_HOOK CUresult cuMemFreeAsync_ptsz(CUdeviceptr dptr, CUstream stream) {
  return hooks::FreeAsync<cuMemFreeAsync_ptsz>(dptr, stream);
}

GPUSLICE_HOOK CUresult cuMemPoolDestroy(CUmemoryPool pool) {
  Runtime& runtime = Runtime::Get();
  const CUresult result = hooks::internal::CallDriver<cuMemPoolDestroy>(pool);
  if (result == CUDA_SUCCESS && runtime.enforcing())
    runtime.pool_charges().Destroyed(runtime, pool);
  return result;
}

GPUSLICE_HOOK CUresult cuMemCreate(CUmemGenericAllocationHandle* handle, size_t size,
                                   const CUmemAllocationProp* prop, unsigned long long flags) {
  Runtime& runtime = Runtime::Get();
  if (!runtime.enforcing() || prop == nullptr ||
      prop->location.type != CU_MEM_LOCATION_TYPE_DEVICE) {
    return hooks::internal::CallDriver<cuMemCreate>(handle, size, prop, flags);
  }
  const CUresult result = hooks::AllocateCounted<cuMemCreate>(
      runtime.SliceOfDevice(prop->location.id), size, AllocationKind::kPhysicalHandle, handle,
      handle, size, prop, flags);
  if (result == CUDA_SUCCESS) runtime.physical_handles().Created(*handle);
  return result;
}

GPUSLICE_HOOK CUresult cuMemRelease(CUmemGenericAllocationHandle handle) {
  Runtime& runtime = Runtime::Get();
  hooks::internal::FreeCall call(runtime);
  const CUresult result = hooks::internal::CallDriver<cuMemRelease>(handle);
  if (result == CUDA_SUCCESS && runtime.enforcing() &&
      runtime.physical_handles().Released(handle)) {
    hooks::RefundPhysical(runtime, handle);
  }
  return result;
}

GPUSLICE_HOOK CUresult cuMemRetainAllocationHandle(CUmemGenericAllocationHandle* handle,
                                                   void* address) {
  Runtime& runtime = Runtime::Get();
  const CUresult result = hooks::internal::CallDriver<cuMemRetainAllocationHandle>(handle, address);
  if (result == CUDA_SUCCESS && runtime.enforcing()) runtime.physical_handles().Retained(*handle);
  return result;
}

GPUSLICE_HOOK CUresult cuMemMap(CUdeviceptr address, size_t size, size_t offset,
                                CUmemGenericAllocationHandle handle, unsigned long long flags) {
  Runtime& runtime = Runtime::Get();
  if (!runtime.enforcing()) {
    return hooks::internal::CallDriver<cuMemMap>(address, size, offset, handle, flags);
  }
  // A mapping of an import keeps its memory in use: charged on its own.
  const std::optional<int> import = runtime.physical_handles().ImportSlice(handle);
  hooks::internal::PendingCharge charge(runtime, import ? *import : -1, import ? size : 0);
  if (!charge.fits()) return hooks::internal::ToCuResult(hooks::internal::Refusal::kOverLimit);
  const CUresult result =
      hooks::internal::CallDriver<cuMemMap>(address, size, offset, handle, flags);
  if (result == CUDA_SUCCESS) {
    charge.Keep();
    runtime.physical_handles().Mapped(address, handle, import ? *import : -1, import ? size : 0);
  }
  return result;
}

GPUSLICE_HOOK CUresult cuMemImportFromShareableHandle(CUmemGenericAllocationHandle* handle,
                                                      void* shareable,
                                                      CUmemAllocationHandleType type) {
  Runtime& runtime = Runtime::Get();
  const CUresult result =
      hooks::internal::CallDriver<cuMemImportFromShareableHandle>(handle, shareable, type);
  if (result != CUDA_SUCCESS || !runtime.enforcing()) return result;
  static const auto properties =
      hooks::internal::DriverFunction<decltype(&cuMemGetAllocationPropertiesFromHandle)>(
          "cuMemGetAllocationPropertiesFromHandle");
  CUmemAllocationProp prop{};
  if (properties != nullptr && properties(&prop, *handle) == CUDA_SUCCESS &&
      prop.location.type == CU_MEM_LOCATION_TYPE_DEVICE) {
    const int slice = runtime.SliceOfDevice(prop.location.id);
    if (slice >= 0) runtime.physical_handles().Imported(*handle, slice);
  }
  return result;
}

GPUSLICE_HOOK CUresult cuMemMapArrayAsync(CUarrayMapInfo* infos, unsigned int count,
                                          CUstream stream) {
  return hooks::MapArrayAsync<cuMemMapArrayAsync>(infos, count, stream);
}

GPUSLICE_HOOK CUresult cuMemMapArrayAsync_ptsz(CUarrayMapInfo* infos, unsigned int count,
                                               CUstream stream) {
  return hooks::MapArrayAsync<cuMemMapArrayAsync_ptsz>(infos, count, stream);
}

GPUSLICE_HOOK CUresult cuMemUnmap(CUdeviceptr address, size_t size) {
  Runtime& runtime = Runtime::Get();
  hooks::internal::FreeCall call(runtime);
  const CUresult result = hooks::internal::CallDriver<cuMemUnmap>(address, size);
  if (result == CUDA_SUCCESS && runtime.enforcing()) hooks::Unmapped(runtime, address, size);
  return result;
}

GPUSLICE_HOOK CUresult cuMemAddressFree(CUdeviceptr address, size_t size) {
  Runtime& runtime = Runtime::Get();
  hooks::internal::FreeCall call(runtime);
  const CUresult result = hooks::internal::CallDriver<cuMemAddressFree>(address, size);
  // Freeing a range unmaps whatever is still mapped in it.
  if (result == CUDA_SUCCESS && runtime.enforcing()) hooks::Unmapped(runtime, address, size);
  return result;
}
