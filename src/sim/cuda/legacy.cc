// The legacy entry points the driver still exports for old binaries and hands out through
// cuGetProcAddress at old versions: the pre-CUDA 3.2 ABI with 32-bit sizes and device
// pointers (its allocations are placed below 2 GiB so their addresses fit), the first
// cuCtxCreate and cuGraphAddNode, and the deprecated multi-device cooperative launch.
#include <climits>

#include "sim/cuda/driver.h"
#include "sim/cuda/resources.h"

namespace {

using gpuslice::sim::cuda::Api;
using gpuslice::sim::cuda::Driver;
using gpuslice::sim::cuda::MemoryKind;

unsigned int Clamp32(size_t value) {
  return value > UINT_MAX ? UINT_MAX : static_cast<unsigned int>(value);
}

CUresult AllocateLow(size_t bytes, CUdeviceptr_v1* dptr) {
  return Api([&](Driver& driver) {
    if (dptr == nullptr || bytes == 0) return CUDA_ERROR_INVALID_VALUE;
    CUctx_st* ctx = nullptr;
    const CUresult current = driver.RequireCurrent(&ctx);
    if (current != CUDA_SUCCESS) return current;
    CUdeviceptr address = 0;
    const CUresult result = gpuslice::sim::cuda::AllocateMemory(
        driver, ctx, bytes, MemoryKind::kDevice, 0, nullptr, &address, /*low=*/true);
    if (result != CUDA_SUCCESS) return result;
    if (address > UINT_MAX) {  // the host gave no low address: as out of memory on a real GPU
      gpuslice::sim::cuda::FreeDeviceMemory(driver, address);
      return CUDA_ERROR_OUT_OF_MEMORY;
    }
    *dptr = static_cast<CUdeviceptr_v1>(address);
    return CUDA_SUCCESS;
  });
}

CUDA_ARRAY3D_DESCRIPTOR Widen(const CUDA_ARRAY3D_DESCRIPTOR_v1& legacy) {
  CUDA_ARRAY3D_DESCRIPTOR descriptor{};
  descriptor.Width = legacy.Width;
  descriptor.Height = legacy.Height;
  descriptor.Depth = legacy.Depth;
  descriptor.Format = legacy.Format;
  descriptor.NumChannels = legacy.NumChannels;
  descriptor.Flags = legacy.Flags;
  return descriptor;
}

}  // namespace

GPUSLICE_CUDA_EXPORT CUresult cuCtxCreate(CUcontext* pctx, unsigned int flags, CUdevice dev) {
  return cuCtxCreate_v2(pctx, flags, dev);
}

GPUSLICE_CUDA_EXPORT CUresult cuMemGetInfo(unsigned int* free, unsigned int* total) {
  if (free == nullptr || total == nullptr) return CUDA_ERROR_INVALID_VALUE;
  size_t free_bytes = 0, total_bytes = 0;
  const CUresult result = cuMemGetInfo_v2(&free_bytes, &total_bytes);
  if (result == CUDA_SUCCESS) {
    *free = Clamp32(free_bytes);
    *total = Clamp32(total_bytes);
  }
  return result;
}

GPUSLICE_CUDA_EXPORT CUresult cuDeviceTotalMem(unsigned int* bytes, CUdevice dev) {
  if (bytes == nullptr) return CUDA_ERROR_INVALID_VALUE;
  size_t total = 0;
  const CUresult result = cuDeviceTotalMem_v2(&total, dev);
  if (result == CUDA_SUCCESS) *bytes = Clamp32(total);
  return result;
}

GPUSLICE_CUDA_EXPORT CUresult cuMemAlloc(CUdeviceptr_v1* dptr, unsigned int bytesize) {
  return AllocateLow(bytesize, dptr);
}

GPUSLICE_CUDA_EXPORT CUresult cuMemAllocPitch(CUdeviceptr_v1* dptr, unsigned int* pPitch,
                                              unsigned int WidthInBytes, unsigned int Height,
                                              unsigned int ElementSizeBytes) {
  if (pPitch == nullptr || WidthInBytes == 0 || Height == 0 ||
      (ElementSizeBytes != 4 && ElementSizeBytes != 8 && ElementSizeBytes != 16)) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  const uint64_t pitch = (uint64_t{WidthInBytes} + 511) / 512 * 512;
  if (pitch * Height > UINT_MAX) return CUDA_ERROR_OUT_OF_MEMORY;
  const CUresult result = AllocateLow(pitch * Height, dptr);
  if (result == CUDA_SUCCESS) *pPitch = static_cast<unsigned int>(pitch);
  return result;
}

GPUSLICE_CUDA_EXPORT CUresult cuMemFree(CUdeviceptr_v1 dptr) { return cuMemFree_v2(dptr); }

GPUSLICE_CUDA_EXPORT CUresult cuArrayCreate(CUarray* pHandle,
                                            const CUDA_ARRAY_DESCRIPTOR_v1* pAllocateArray) {
  if (pAllocateArray == nullptr) return CUDA_ERROR_INVALID_VALUE;
  const CUDA_ARRAY_DESCRIPTOR descriptor{pAllocateArray->Width, pAllocateArray->Height,
                                         pAllocateArray->Format, pAllocateArray->NumChannels};
  return cuArrayCreate_v2(pHandle, &descriptor);
}

GPUSLICE_CUDA_EXPORT CUresult cuArray3DCreate(CUarray* pHandle,
                                              const CUDA_ARRAY3D_DESCRIPTOR_v1* pAllocateArray) {
  if (pAllocateArray == nullptr) return CUDA_ERROR_INVALID_VALUE;
  const CUDA_ARRAY3D_DESCRIPTOR descriptor = Widen(*pAllocateArray);
  return cuArray3DCreate_v2(pHandle, &descriptor);
}

GPUSLICE_CUDA_EXPORT CUresult cuGraphAddNode(CUgraphNode* phGraphNode, CUgraph hGraph,
                                             const CUgraphNode* dependencies,
                                             size_t numDependencies,
                                             CUgraphNodeParams* nodeParams) {
  return cuGraphAddNode_v2(phGraphNode, hGraph, dependencies, nullptr, numDependencies, nodeParams);
}

GPUSLICE_CUDA_EXPORT CUresult cuLaunchCooperativeKernelMultiDevice(
    CUDA_LAUNCH_PARAMS* launchParamsList, unsigned int numDevices, unsigned int) {
  if (launchParamsList == nullptr || numDevices == 0) return CUDA_ERROR_INVALID_VALUE;
  for (unsigned int i = 0; i < numDevices; ++i) {
    const CUDA_LAUNCH_PARAMS& launch = launchParamsList[i];
    const CUresult result = cuLaunchCooperativeKernel(
        launch.function, launch.gridDimX, launch.gridDimY, launch.gridDimZ, launch.blockDimX,
        launch.blockDimY, launch.blockDimZ, launch.sharedMemBytes, launch.hStream,
        launch.kernelParams);
    if (result != CUDA_SUCCESS) return result;
  }
  return CUDA_SUCCESS;
}
