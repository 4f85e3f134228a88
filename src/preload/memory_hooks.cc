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
// at every launch: charged on its own, it belongs to the capture and then to the graph the
// capture yields (graph_memory.h), and no free of its address gives it back.
template <auto Hook, typename... Args>
CUresult AllocateForCapture(int slice, uint64_t capture, CUstream stream, size_t bytesize,
                            Args... args) {
  Runtime& runtime = Runtime::Get();
  PendingCharge charge(runtime, slice, bytesize);
  if (!charge.fits()) return ToCuResult(Refusal::kOverLimit);
  const CUresult result = CallDriver<Hook>(args...);
  if (result == CUDA_SUCCESS) {
    if (std::optional<Allocation> charged = charge.CommitToGraph()) {
      runtime.graph_memory().Captured(capture, internal::StreamKey(stream), *charged);
    }
  }
  return result;
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
      if (std::optional<CUresult> pooled = runtime.pool_charges().Allocate(
              runtime, slice, pool, bytesize, dptr, [&] { return CallDriver<Hook>(args...); })) {
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

// Gives back the charge of a physical allocation the driver has now freed.
void RefundPhysical(Runtime& runtime, uint64_t handle) {
  if (std::optional<Allocation> taken =
          runtime.allocations().Take(AllocationKind::kPhysicalHandle, handle)) {
    runtime.ledger().Refund(taken->device, taken->bytes);
  }
}

void Unmapped(Runtime& runtime, CUdeviceptr address, size_t size) {
  for (uint64_t handle : runtime.physical_handles().Unmapped(address, size)) {
    RefundPhysical(runtime, handle);
  }
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
  if (result == CUDA_SUCCESS && runtime.enforcing()) runtime.pool_charges().Destroyed(runtime, pool);
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
  const CUresult result =
      hooks::internal::CallDriver<cuMemRetainAllocationHandle>(handle, address);
  if (result == CUDA_SUCCESS && runtime.enforcing()) runtime.physical_handles().Retained(*handle);
  return result;
}

GPUSLICE_HOOK CUresult cuMemMap(CUdeviceptr address, size_t size, size_t offset,
                                CUmemGenericAllocationHandle handle, unsigned long long flags) {
  Runtime& runtime = Runtime::Get();
  const CUresult result =
      hooks::internal::CallDriver<cuMemMap>(address, size, offset, handle, flags);
  if (result == CUDA_SUCCESS && runtime.enforcing()) {
    runtime.physical_handles().Mapped(address, handle);
  }
  return result;
}

GPUSLICE_HOOK CUresult cuMemUnmap(CUdeviceptr address, size_t size) {
  Runtime& runtime = Runtime::Get();
  const CUresult result = hooks::internal::CallDriver<cuMemUnmap>(address, size);
  if (result == CUDA_SUCCESS && runtime.enforcing()) hooks::Unmapped(runtime, address, size);
  return result;
}

GPUSLICE_HOOK CUresult cuMemAddressFree(CUdeviceptr address, size_t size) {
  Runtime& runtime = Runtime::Get();
  const CUresult result = hooks::internal::CallDriver<cuMemAddressFree>(address, size);
  // Freeing a range unmaps whatever is still mapped in it.
  if (result == CUDA_SUCCESS && runtime.enforcing()) hooks::Unmapped(runtime, address, size);
  return result;
}
