// Hooks of CUDA arrays and mipmapped arrays: charged by their dimensions before the driver
// makes them, then corrected to the driver's exact size where it reports one. Sparse and
// deferred-mapping arrays have no memory of their own (what is mapped into them is charged
// where it was made, cuMemCreate), so they are not charged.
#include <algorithm>
#include <type_traits>

#include "core/abi/cuda.h"
#include "preload/hooks.h"
#include "preload/internal/hook_support.h"

namespace gpuslice::preload {
namespace {

using internal::CallDriver;
using internal::DriverFunction;
using internal::PendingCharge;
using internal::Refusal;
using internal::ToCuResult;

uint64_t BytesPerChannel(CUarray_format format) {
  switch (format) {
    case CU_AD_FORMAT_UNSIGNED_INT8:
    case CU_AD_FORMAT_SIGNED_INT8:
      return 1;
    case CU_AD_FORMAT_UNSIGNED_INT16:
    case CU_AD_FORMAT_SIGNED_INT16:
    case CU_AD_FORMAT_HALF:
      return 2;
    default:
      // 32-bit, packed, video and block-compressed formats: at most 4 bytes per channel
      // element; the driver's memory requirements correct the estimate.
      return 4;
  }
}

struct Extent {
  uint64_t width;
  uint64_t height;
  uint64_t depth;
  CUarray_format format;
  uint64_t channels;
};

uint64_t LevelBytes(const Extent& extent, unsigned int level) {
  const auto shrink = [level](uint64_t size) { return std::max<uint64_t>(size >> level, 1); };
  return shrink(extent.width) * shrink(extent.height) * shrink(extent.depth) * extent.channels *
         BytesPerChannel(extent.format);
}

// The driver's exact size of a new array on the current device, or 0 when it cannot say.
template <typename Handle, typename Query>
uint64_t DriverSize(Handle handle, Query query) {
  static const auto get_device = DriverFunction<decltype(&cuCtxGetDevice)>("cuCtxGetDevice");
  CUdevice device = 0;
  CUDA_ARRAY_MEMORY_REQUIREMENTS requirements{};
  if (query == nullptr || get_device == nullptr || get_device(&device) != CUDA_SUCCESS ||
      query(&requirements, handle, device) != CUDA_SUCCESS) {
    return 0;
  }
  return requirements.size;
}

template <auto Hook, auto Destroy, typename Handle, typename Descriptor>
CUresult CreateCounted(Handle* handle, const Descriptor* descriptor, const Extent& extent,
                       unsigned int levels, AllocationKind kind, const char* requirements_symbol) {
  Runtime& runtime = Runtime::Get();
  uint64_t estimate = 0;
  for (unsigned int level = 0; level < std::max(levels, 1u); ++level) {
    estimate += LevelBytes(extent, level);
  }
  PendingCharge charge(runtime, runtime.SliceOfCurrentContext(), estimate);
  if (!charge.fits()) return ToCuResult(Refusal::kOverLimit);
  CUresult result;
  if constexpr (std::is_same_v<Handle, CUmipmappedArray>) {
    result = CallDriver<Hook>(handle, descriptor, levels);
  } else {
    result = CallDriver<Hook>(handle, descriptor);
  }
  if (result != CUDA_SUCCESS) return result;
  using Query = CUresult (*)(CUDA_ARRAY_MEMORY_REQUIREMENTS*, Handle, CUdevice);
  static const auto query = DriverFunction<Query>(requirements_symbol);
  const uint64_t exact = DriverSize(*handle, query);
  if (exact != 0 && !charge.Resize(exact)) {
    CallDriver<Destroy>(*handle);
    return ToCuResult(Refusal::kOverLimit);
  }
  charge.Commit(kind, reinterpret_cast<uint64_t>(*handle));
  return result;
}

// A destroyed array's tiles are unmapped with it: what was mapped into them may be freed now.
void UnmapTiles(CUresult destroyed, uint64_t array) {
  Runtime& runtime = Runtime::Get();
  if (destroyed != CUDA_SUCCESS || !runtime.enforcing()) return;
  internal::GiveBackUnmapped(runtime, runtime.physical_handles().UnmappedArray(array));
}

// Sparse and deferred-mapping arrays get their memory from cuMemMapArrayAsync.
template <typename Descriptor>
bool WithoutMemory(const Descriptor* descriptor) {
  return descriptor != nullptr &&
         (descriptor->Flags & (CUDA_ARRAY3D_SPARSE | CUDA_ARRAY3D_DEFERRED_MAPPING)) != 0;
}

template <auto Hook, typename Descriptor>
CUresult CreateArray(CUarray* handle, const Descriptor* descriptor, uint64_t depth) {
  if (!Runtime::Get().enforcing() || descriptor == nullptr) {
    return CallDriver<Hook>(handle, descriptor);
  }
  const Extent extent{descriptor->Width, descriptor->Height, depth, descriptor->Format,
                      descriptor->NumChannels};
  return CreateCounted<Hook, cuArrayDestroy>(handle, descriptor, extent, 1, AllocationKind::kArray,
                                             "cuArrayGetMemoryRequirements");
}

}  // namespace
}  // namespace gpuslice::preload

namespace hooks = gpuslice::preload;

GPUSLICE_HOOK CUresult cuArrayCreate(CUarray* handle, const CUDA_ARRAY_DESCRIPTOR_v1* descriptor) {
  return hooks::CreateArray<cuArrayCreate>(handle, descriptor, 1);
}

GPUSLICE_HOOK CUresult cuArrayCreate_v2(CUarray* handle, const CUDA_ARRAY_DESCRIPTOR* descriptor) {
  return hooks::CreateArray<cuArrayCreate_v2>(handle, descriptor, 1);
}

GPUSLICE_HOOK CUresult cuArray3DCreate(CUarray* handle,
                                       const CUDA_ARRAY3D_DESCRIPTOR_v1* descriptor) {
  if (hooks::WithoutMemory(descriptor)) {
    return hooks::internal::CallDriver<cuArray3DCreate>(handle, descriptor);
  }
  return hooks::CreateArray<cuArray3DCreate>(handle, descriptor,
                                             descriptor != nullptr ? descriptor->Depth : 0);
}

GPUSLICE_HOOK CUresult cuArray3DCreate_v2(CUarray* handle,
                                          const CUDA_ARRAY3D_DESCRIPTOR* descriptor) {
  if (hooks::WithoutMemory(descriptor)) {
    return hooks::internal::CallDriver<cuArray3DCreate_v2>(handle, descriptor);
  }
  return hooks::CreateArray<cuArray3DCreate_v2>(handle, descriptor,
                                                descriptor != nullptr ? descriptor->Depth : 0);
}

GPUSLICE_HOOK CUresult cuArrayDestroy(CUarray array) {
  hooks::internal::FreeCall call(hooks::Runtime::Get());
  const CUresult result = hooks::internal::FreeCounted(
      hooks::AllocationKind::kArray, reinterpret_cast<uint64_t>(array),
      [&] { return hooks::internal::CallDriver<cuArrayDestroy>(array); });
  hooks::UnmapTiles(result, reinterpret_cast<uint64_t>(array));
  return result;
}

GPUSLICE_HOOK CUresult cuMipmappedArrayCreate(CUmipmappedArray* handle,
                                              const CUDA_ARRAY3D_DESCRIPTOR* descriptor,
                                              unsigned int levels) {
  if (!hooks::Runtime::Get().enforcing() || descriptor == nullptr ||
      hooks::WithoutMemory(descriptor)) {
    return hooks::internal::CallDriver<cuMipmappedArrayCreate>(handle, descriptor, levels);
  }
  const hooks::Extent extent{descriptor->Width, descriptor->Height, descriptor->Depth,
                             descriptor->Format, descriptor->NumChannels};
  return hooks::CreateCounted<cuMipmappedArrayCreate, cuMipmappedArrayDestroy>(
      handle, descriptor, extent, levels, hooks::AllocationKind::kMipmappedArray,
      "cuMipmappedArrayGetMemoryRequirements");
}

GPUSLICE_HOOK CUresult cuMipmappedArrayDestroy(CUmipmappedArray array) {
  hooks::internal::FreeCall call(hooks::Runtime::Get());
  const CUresult result = hooks::internal::FreeCounted(
      hooks::AllocationKind::kMipmappedArray, reinterpret_cast<uint64_t>(array),
      [&] { return hooks::internal::CallDriver<cuMipmappedArrayDestroy>(array); });
  hooks::UnmapTiles(result, reinterpret_cast<uint64_t>(array));
  return result;
}
