#include "preload/hook_table.h"

#include <cstring>

#include "core/abi/cuda.h"
#include "core/abi/nvml.h"

namespace gpuslice::preload {
namespace {

template <typename Function>
constexpr HookEntry Hook(const char* symbol, int cuda_version, Function* hook) {
  return HookEntry{symbol, cuda_version, reinterpret_cast<void*>(hook)};
}

// Versions are those at which the driver's cuGetProcAddress starts answering the API name
// with that symbol (the CUDA release that introduced it, as cuda.h's versioned macros say).
const HookEntry kHooks[] = {
    // Entry-point lookup: a request for cuGetProcAddress itself gets the hook.
    Hook("cuGetProcAddress", 11030, &cuGetProcAddress),
    Hook("cuGetProcAddress_v2", 12000, &cuGetProcAddress_v2),

    // What the slice looks like.
    Hook("cuMemGetInfo", 2000, &cuMemGetInfo),
    Hook("cuMemGetInfo_v2", 3020, &cuMemGetInfo_v2),
    Hook("cuDeviceTotalMem", 2000, &cuDeviceTotalMem),
    Hook("cuDeviceTotalMem_v2", 3020, &cuDeviceTotalMem_v2),
    Hook("nvmlDeviceGetMemoryInfo", 0, &nvmlDeviceGetMemoryInfo),
    Hook("nvmlDeviceGetMemoryInfo_v2", 0, &nvmlDeviceGetMemoryInfo_v2),

    // Contexts: their device memory counts against the slice.
    Hook("cuDevicePrimaryCtxRetain", 7000, &cuDevicePrimaryCtxRetain),
    Hook("cuCtxCreate", 2000, &cuCtxCreate),
    Hook("cuCtxCreate_v2", 3020, &cuCtxCreate_v2),
    Hook("cuCtxCreate_v3", 11040, &cuCtxCreate_v3),
    Hook("cuCtxCreate_v4", 12050, &cuCtxCreate_v4),

    // Every allocation path and its free.
    Hook("cuMemAlloc", 2000, &cuMemAlloc),
    Hook("cuMemAlloc_v2", 3020, &cuMemAlloc_v2),
    Hook("cuMemAllocPitch", 2000, &cuMemAllocPitch),
    Hook("cuMemAllocPitch_v2", 3020, &cuMemAllocPitch_v2),
    Hook("cuMemAllocManaged", 6000, &cuMemAllocManaged),
    Hook("cuMemFree", 2000, &cuMemFree),
    Hook("cuMemFree_v2", 3020, &cuMemFree_v2),
    Hook("cuMemAllocAsync", 11020, &cuMemAllocAsync),
    Hook("cuMemAllocAsync_ptsz", 11020, &cuMemAllocAsync_ptsz),
    Hook("cuMemAllocFromPoolAsync", 11020, &cuMemAllocFromPoolAsync),
    Hook("cuMemAllocFromPoolAsync_ptsz", 11020, &cuMemAllocFromPoolAsync_ptsz),
    Hook("cuMemFreeAsync", 11020, &cuMemFreeAsync),
    Hook("cuMemFreeAsync_ptsz", 11020, &cuMemFreeAsync_ptsz),
    Hook("cuMemCreate", 10020, &cuMemCreate),
    Hook("cuMemRelease", 10020, &cuMemRelease),
    Hook("cuArrayCreate", 2000, &cuArrayCreate),
    Hook("cuArrayCreate_v2", 3020, &cuArrayCreate_v2),
    Hook("cuArray3DCreate", 2000, &cuArray3DCreate),
    Hook("cuArray3DCreate_v2", 3020, &cuArray3DCreate_v2),
    Hook("cuArrayDestroy", 2000, &cuArrayDestroy),
    Hook("cuMipmappedArrayCreate", 5000, &cuMipmappedArrayCreate),
    Hook("cuMipmappedArrayDestroy", 5000, &cuMipmappedArrayDestroy),
    Hook("cuGraphAddMemAllocNode", 11040, &cuGraphAddMemAllocNode),
    Hook("cuGraphAddNode", 12020, &cuGraphAddNode),
    Hook("cuGraphAddNode_v2", 12030, &cuGraphAddNode_v2),
    Hook("cuGraphDestroy", 10000, &cuGraphDestroy),

    // Every launch path.
    Hook("cuLaunchKernel", 4000, &cuLaunchKernel),
    Hook("cuLaunchKernel_ptsz", 7000, &cuLaunchKernel_ptsz),
    Hook("cuLaunchKernelEx", 11060, &cuLaunchKernelEx),
    Hook("cuLaunchKernelEx_ptsz", 11060, &cuLaunchKernelEx_ptsz),
    Hook("cuLaunchCooperativeKernel", 9000, &cuLaunchCooperativeKernel),
    Hook("cuLaunchCooperativeKernel_ptsz", 9000, &cuLaunchCooperativeKernel_ptsz),
    Hook("cuLaunchCooperativeKernelMultiDevice", 9000, &cuLaunchCooperativeKernelMultiDevice),
    Hook("cuGraphLaunch", 10000, &cuGraphLaunch),
    Hook("cuGraphLaunch_ptsz", 10000, &cuGraphLaunch_ptsz),
};

}  // namespace

std::span<const HookEntry> HookTable() { return kHooks; }

}  // namespace gpuslice::preload
