// Arrays and mipmapped arrays: host-backed buffers counted on their GPU. Elements are stored
// row after row, slice after slice, which is how copies address them.
#include <algorithm>
#include <memory>

#include "sim/cuda/driver.h"
#include "sim/cuda/resources.h"

namespace {

using gpuslice::sim::cuda::Api;
using gpuslice::sim::cuda::Driver;

constexpr size_t kArrayAlignment = 512;

// Bytes of one element, or 0 for a format the simulation does not store.
size_t ElementBytes(CUarray_format format, unsigned int channels) {
  if (channels != 1 && channels != 2 && channels != 4) return 0;
  switch (format) {
    case CU_AD_FORMAT_UNSIGNED_INT8:
    case CU_AD_FORMAT_SIGNED_INT8:
      return channels;
    case CU_AD_FORMAT_UNSIGNED_INT16:
    case CU_AD_FORMAT_SIGNED_INT16:
    case CU_AD_FORMAT_HALF:
      return 2 * channels;
    case CU_AD_FORMAT_UNSIGNED_INT32:
    case CU_AD_FORMAT_SIGNED_INT32:
    case CU_AD_FORMAT_FLOAT:
      return 4 * channels;
    default:
      return 0;
  }
}

// Bytes of an array with these dimensions; 0 on overflow.
size_t ArrayBytes(size_t width, size_t height, size_t depth, size_t element) {
  size_t bytes = element;
  for (size_t extent : {width, std::max<size_t>(height, 1), std::max<size_t>(depth, 1)}) {
    if (__builtin_mul_overflow(bytes, extent, &bytes)) return 0;
  }
  return bytes;
}

CUresult CheckDescriptor(const CUDA_ARRAY3D_DESCRIPTOR& d, size_t* element) {
  constexpr unsigned int kSupportedFlags = CUDA_ARRAY3D_LAYERED | CUDA_ARRAY3D_SURFACE_LDST |
                                           CUDA_ARRAY3D_CUBEMAP | CUDA_ARRAY3D_TEXTURE_GATHER |
                                           CUDA_ARRAY3D_COLOR_ATTACHMENT;
  if (d.Width == 0 || (d.Height == 0 && d.Depth != 0)) return CUDA_ERROR_INVALID_VALUE;
  if ((d.Flags & (CUDA_ARRAY3D_SPARSE | CUDA_ARRAY3D_DEFERRED_MAPPING)) != 0) {
    return CUDA_ERROR_NOT_SUPPORTED;  // arrays without their own memory are not simulated
  }
  if ((d.Flags & ~kSupportedFlags) != 0) return CUDA_ERROR_INVALID_VALUE;
  if ((d.Flags & CUDA_ARRAY3D_CUBEMAP) != 0 &&
      (d.Width != d.Height ||
       ((d.Flags & CUDA_ARRAY3D_LAYERED) ? d.Depth % 6 : d.Depth - 6) != 0)) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  *element = ElementBytes(d.Format, d.NumChannels);
  return *element == 0 ? CUDA_ERROR_INVALID_VALUE : CUDA_SUCCESS;
}

CUresult CreateArray(const CUDA_ARRAY3D_DESCRIPTOR& descriptor, CUarray* handle) {
  return Api([&](Driver& driver) {
    if (handle == nullptr) return CUDA_ERROR_INVALID_VALUE;
    size_t element = 0;
    const CUresult valid = CheckDescriptor(descriptor, &element);
    if (valid != CUDA_SUCCESS) return valid;
    CUctx_st* ctx = nullptr;
    const CUresult current = driver.RequireCurrent(&ctx);
    if (current != CUDA_SUCCESS) return current;
    const size_t bytes = ArrayBytes(descriptor.Width, descriptor.Height, descriptor.Depth, element);
    if (bytes == 0) return CUDA_ERROR_OUT_OF_MEMORY;
    if (driver.IsLost(ctx->gpu)) return CUDA_ERROR_DEVICE_UNAVAILABLE;
    if (!driver.account().Reserve(ctx->gpu, bytes).ok()) return CUDA_ERROR_OUT_OF_MEMORY;
    void* data = gpuslice::sim::cuda::MapBacking(bytes);
    if (data == nullptr) {
      driver.account().Release(ctx->gpu, bytes);
      return CUDA_ERROR_OUT_OF_MEMORY;
    }
    auto* array = new CUarray_st();
    array->ctx = ctx;
    array->gpu = ctx->gpu;
    array->descriptor = descriptor;
    array->element_bytes = element;
    array->bytes = bytes;
    array->data = static_cast<unsigned char*>(data);
    driver.arrays.Add(array);
    *handle = array;
    return CUDA_SUCCESS;
  });
}

template <typename Body>
CUresult WithArray(CUarray array, Body body) {
  return Api([&](Driver& driver) {
    if (!driver.arrays.Contains(array)) return CUDA_ERROR_INVALID_HANDLE;
    return body(driver, array);
  });
}

}  // namespace

GPUSLICE_CUDA_EXPORT CUresult cuArrayCreate_v2(CUarray* pHandle,
                                               const CUDA_ARRAY_DESCRIPTOR* pAllocateArray) {
  if (pAllocateArray == nullptr) return CUDA_ERROR_INVALID_VALUE;
  CUDA_ARRAY3D_DESCRIPTOR descriptor{};
  descriptor.Width = pAllocateArray->Width;
  descriptor.Height = pAllocateArray->Height;
  descriptor.Format = pAllocateArray->Format;
  descriptor.NumChannels = pAllocateArray->NumChannels;
  return CreateArray(descriptor, pHandle);
}

GPUSLICE_CUDA_EXPORT CUresult cuArray3DCreate_v2(CUarray* pHandle,
                                                 const CUDA_ARRAY3D_DESCRIPTOR* pAllocateArray) {
  if (pAllocateArray == nullptr) return CUDA_ERROR_INVALID_VALUE;
  return CreateArray(*pAllocateArray, pHandle);
}

GPUSLICE_CUDA_EXPORT CUresult cuArrayDestroy(CUarray hArray) {
  return WithArray(hArray, [](Driver& driver, CUarray_st* array) {
    if (array->parent != nullptr) return CUDA_ERROR_INVALID_HANDLE;  // owned by its mipmap
    gpuslice::sim::cuda::DestroyArray(driver, array);
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuArrayGetDescriptor_v2(CUDA_ARRAY_DESCRIPTOR* pArrayDescriptor,
                                                      CUarray hArray) {
  return WithArray(hArray, [&](Driver&, CUarray_st* array) {
    if (pArrayDescriptor == nullptr) return CUDA_ERROR_INVALID_VALUE;
    pArrayDescriptor->Width = array->descriptor.Width;
    pArrayDescriptor->Height = array->descriptor.Height;
    pArrayDescriptor->Format = array->descriptor.Format;
    pArrayDescriptor->NumChannels = array->descriptor.NumChannels;
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuArray3DGetDescriptor_v2(CUDA_ARRAY3D_DESCRIPTOR* pArrayDescriptor,
                                                        CUarray hArray) {
  return WithArray(hArray, [&](Driver&, CUarray_st* array) {
    if (pArrayDescriptor == nullptr) return CUDA_ERROR_INVALID_VALUE;
    *pArrayDescriptor = array->descriptor;
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuArrayGetMemoryRequirements(
    CUDA_ARRAY_MEMORY_REQUIREMENTS* memoryRequirements, CUarray array, CUdevice device) {
  return WithArray(array, [&](Driver& driver, CUarray_st* target) {
    if (memoryRequirements == nullptr) return CUDA_ERROR_INVALID_VALUE;
    if (driver.CheckDevice(device) != CUDA_SUCCESS) return CUDA_ERROR_INVALID_DEVICE;
    *memoryRequirements = CUDA_ARRAY_MEMORY_REQUIREMENTS{};
    memoryRequirements->size = target->bytes;
    memoryRequirements->alignment = kArrayAlignment;
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuMipmappedArrayCreate(
    CUmipmappedArray* pHandle, const CUDA_ARRAY3D_DESCRIPTOR* pMipmappedArrayDesc,
    unsigned int numMipmapLevels) {
  return Api([&](Driver& driver) {
    if (pHandle == nullptr || pMipmappedArrayDesc == nullptr || numMipmapLevels == 0) {
      return CUDA_ERROR_INVALID_VALUE;
    }
    const CUDA_ARRAY3D_DESCRIPTOR& base = *pMipmappedArrayDesc;
    size_t element = 0;
    const CUresult valid = CheckDescriptor(base, &element);
    if (valid != CUDA_SUCCESS) return valid;
    const size_t largest = std::max({base.Width, base.Height, base.Depth});
    unsigned int possible = 1;
    while ((largest >> possible) > 0) ++possible;
    if (numMipmapLevels > possible) return CUDA_ERROR_INVALID_VALUE;
    CUctx_st* ctx = nullptr;
    const CUresult current = driver.RequireCurrent(&ctx);
    if (current != CUDA_SUCCESS) return current;
    const bool layered = (base.Flags & CUDA_ARRAY3D_LAYERED) != 0;
    std::vector<CUDA_ARRAY3D_DESCRIPTOR> levels;
    std::vector<size_t> offsets;
    size_t bytes = 0;
    for (unsigned int level = 0; level < numMipmapLevels; ++level) {
      CUDA_ARRAY3D_DESCRIPTOR d = base;
      d.Width = std::max<size_t>(base.Width >> level, 1);
      d.Height = base.Height == 0 ? 0 : std::max<size_t>(base.Height >> level, 1);
      d.Depth = base.Depth == 0 || layered ? base.Depth : std::max<size_t>(base.Depth >> level, 1);
      const size_t level_bytes = ArrayBytes(d.Width, d.Height, d.Depth, element);
      if (level_bytes == 0 || bytes > SIZE_MAX - level_bytes) return CUDA_ERROR_OUT_OF_MEMORY;
      levels.push_back(d);
      offsets.push_back(bytes);
      bytes += level_bytes;
    }
    if (driver.IsLost(ctx->gpu)) return CUDA_ERROR_DEVICE_UNAVAILABLE;
    if (!driver.account().Reserve(ctx->gpu, bytes).ok()) return CUDA_ERROR_OUT_OF_MEMORY;
    void* data = gpuslice::sim::cuda::MapBacking(bytes);
    if (data == nullptr) {
      driver.account().Release(ctx->gpu, bytes);
      return CUDA_ERROR_OUT_OF_MEMORY;
    }
    auto* mipmap = new CUmipmappedArray_st();
    mipmap->ctx = ctx;
    mipmap->gpu = ctx->gpu;
    mipmap->descriptor = base;
    mipmap->bytes = bytes;
    mipmap->data = static_cast<unsigned char*>(data);
    for (size_t i = 0; i < levels.size(); ++i) {
      auto level = std::make_unique<CUarray_st>();
      level->ctx = ctx;
      level->gpu = ctx->gpu;
      level->descriptor = levels[i];
      level->element_bytes = element;
      level->bytes = ArrayBytes(levels[i].Width, levels[i].Height, levels[i].Depth, element);
      level->data = mipmap->data + offsets[i];
      level->parent = mipmap;
      driver.arrays.Add(level.get());
      mipmap->levels.push_back(std::move(level));
    }
    driver.mipmapped_arrays.Add(mipmap);
    *pHandle = mipmap;
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuMipmappedArrayGetLevel(CUarray* pLevelArray,
                                                       CUmipmappedArray hMipmappedArray,
                                                       unsigned int level) {
  return Api([&](Driver& driver) {
    if (!driver.mipmapped_arrays.Contains(hMipmappedArray)) return CUDA_ERROR_INVALID_HANDLE;
    if (pLevelArray == nullptr || level >= hMipmappedArray->levels.size()) {
      return CUDA_ERROR_INVALID_VALUE;
    }
    *pLevelArray = hMipmappedArray->levels[level].get();
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuMipmappedArrayDestroy(CUmipmappedArray hMipmappedArray) {
  return Api([&](Driver& driver) {
    if (!driver.mipmapped_arrays.Contains(hMipmappedArray)) return CUDA_ERROR_INVALID_HANDLE;
    gpuslice::sim::cuda::DestroyMipmappedArray(driver, hMipmappedArray);
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuMipmappedArrayGetMemoryRequirements(
    CUDA_ARRAY_MEMORY_REQUIREMENTS* memoryRequirements, CUmipmappedArray mipmap, CUdevice device) {
  return Api([&](Driver& driver) {
    if (!driver.mipmapped_arrays.Contains(mipmap)) return CUDA_ERROR_INVALID_HANDLE;
    if (memoryRequirements == nullptr) return CUDA_ERROR_INVALID_VALUE;
    if (driver.CheckDevice(device) != CUDA_SUCCESS) return CUDA_ERROR_INVALID_DEVICE;
    *memoryRequirements = CUDA_ARRAY_MEMORY_REQUIREMENTS{};
    memoryRequirements->size = mipmap->bytes;
    memoryRequirements->alignment = kArrayAlignment;
    return CUDA_SUCCESS;
  });
}
