#include "preload/hook_table.h"

#include "core/abi/cuda.h"
#include "core/abi/nvml.h"

namespace gpuslice::preload {
namespace {

// Versions are those at which the driver's cuGetProcAddress starts answering the API name
// with that symbol (the CUDA release that introduced it, as cuda.h's versioned macros say).
// Plain aggregates of addresses, so the table is in the binary before any code runs: dlsym
// may be asked for a hook before the library's constructors.
const HookEntry kHooks[] = {
    // Entry-point lookup: a request for cuGetProcAddress itself gets the hook.
    {"cuGetProcAddress", 11030, reinterpret_cast<void*>(&cuGetProcAddress)},
    {"cuGetProcAddress_v2", 12000, reinterpret_cast<void*>(&cuGetProcAddress_v2)},

    // What the slice looks like.
    {"cuMemGetInfo", 2000, reinterpret_cast<void*>(&cuMemGetInfo)},
    {"cuMemGetInfo_v2", 3020, reinterpret_cast<void*>(&cuMemGetInfo_v2)},
    {"cuDeviceTotalMem", 2000, reinterpret_cast<void*>(&cuDeviceTotalMem)},
    {"cuDeviceTotalMem_v2", 3020, reinterpret_cast<void*>(&cuDeviceTotalMem_v2)},
    {"nvmlDeviceGetMemoryInfo", 0, reinterpret_cast<void*>(&nvmlDeviceGetMemoryInfo)},
    {"nvmlDeviceGetMemoryInfo_v2", 0, reinterpret_cast<void*>(&nvmlDeviceGetMemoryInfo_v2)},

    // Contexts: their device memory counts against the slice.
    {"cuDevicePrimaryCtxRetain", 7000, reinterpret_cast<void*>(&cuDevicePrimaryCtxRetain)},
    {"cuCtxCreate", 2000, reinterpret_cast<void*>(&cuCtxCreate)},
    {"cuCtxCreate_v2", 3020, reinterpret_cast<void*>(&cuCtxCreate_v2)},
    {"cuCtxCreate_v3", 11040, reinterpret_cast<void*>(&cuCtxCreate_v3)},
    {"cuCtxCreate_v4", 12050, reinterpret_cast<void*>(&cuCtxCreate_v4)},
    // Calls after which the driver holds memory of its own: module code and data, limits.
    {"cuCtxSetLimit", 3010, reinterpret_cast<void*>(&cuCtxSetLimit)},
    {"cuModuleLoad", 2000, reinterpret_cast<void*>(&cuModuleLoad)},
    {"cuModuleLoadData", 2000, reinterpret_cast<void*>(&cuModuleLoadData)},
    {"cuModuleLoadDataEx", 2010, reinterpret_cast<void*>(&cuModuleLoadDataEx)},
    {"cuModuleLoadFatBinary", 2000, reinterpret_cast<void*>(&cuModuleLoadFatBinary)},
    {"cuLibraryLoadData", 12000, reinterpret_cast<void*>(&cuLibraryLoadData)},
    {"cuLibraryLoadFromFile", 12000, reinterpret_cast<void*>(&cuLibraryLoadFromFile)},

    // Every allocation path and its free.
    {"cuMemAlloc", 2000, reinterpret_cast<void*>(&cuMemAlloc)},
    {"cuMemAlloc_v2", 3020, reinterpret_cast<void*>(&cuMemAlloc_v2)},
    {"cuMemAllocPitch", 2000, reinterpret_cast<void*>(&cuMemAllocPitch)},
    {"cuMemAllocPitch_v2", 3020, reinterpret_cast<void*>(&cuMemAllocPitch_v2)},
    {"cuMemAllocManaged", 6000, reinterpret_cast<void*>(&cuMemAllocManaged)},
    {"cuMemFree", 2000, reinterpret_cast<void*>(&cuMemFree)},
    {"cuMemFree_v2", 3020, reinterpret_cast<void*>(&cuMemFree_v2)},
    {"cuMemAllocAsync", 11020, reinterpret_cast<void*>(&cuMemAllocAsync)},
    {"cuMemAllocAsync_ptsz", 11020, reinterpret_cast<void*>(&cuMemAllocAsync_ptsz)},
    {"cuMemAllocFromPoolAsync", 11020, reinterpret_cast<void*>(&cuMemAllocFromPoolAsync)},
    {"cuMemAllocFromPoolAsync_ptsz", 11020, reinterpret_cast<void*>(&cuMemAllocFromPoolAsync_ptsz)},
    {"cuMemFreeAsync", 11020, reinterpret_cast<void*>(&cuMemFreeAsync)},
    {"cuMemFreeAsync_ptsz", 11020, reinterpret_cast<void*>(&cuMemFreeAsync_ptsz)},
    {"cuMemPoolDestroy", 11020, reinterpret_cast<void*>(&cuMemPoolDestroy)},
    {"cuMemCreate", 10020, reinterpret_cast<void*>(&cuMemCreate)},
    {"cuMemRelease", 10020, reinterpret_cast<void*>(&cuMemRelease)},
    {"cuMemRetainAllocationHandle", 11000, reinterpret_cast<void*>(&cuMemRetainAllocationHandle)},
    {"cuMemMap", 10020, reinterpret_cast<void*>(&cuMemMap)},
    {"cuMemImportFromShareableHandle", 10020,
     reinterpret_cast<void*>(&cuMemImportFromShareableHandle)},
    {"cuMemMapArrayAsync", 11010, reinterpret_cast<void*>(&cuMemMapArrayAsync)},
    {"cuMemMapArrayAsync_ptsz", 11010, reinterpret_cast<void*>(&cuMemMapArrayAsync_ptsz)},
    {"cuMemUnmap", 10020, reinterpret_cast<void*>(&cuMemUnmap)},
    {"cuMemAddressFree", 10020, reinterpret_cast<void*>(&cuMemAddressFree)},
    {"cuArrayCreate", 2000, reinterpret_cast<void*>(&cuArrayCreate)},
    {"cuArrayCreate_v2", 3020, reinterpret_cast<void*>(&cuArrayCreate_v2)},
    {"cuArray3DCreate", 2000, reinterpret_cast<void*>(&cuArray3DCreate)},
    {"cuArray3DCreate_v2", 3020, reinterpret_cast<void*>(&cuArray3DCreate_v2)},
    {"cuArrayDestroy", 2000, reinterpret_cast<void*>(&cuArrayDestroy)},
    {"cuMipmappedArrayCreate", 5000, reinterpret_cast<void*>(&cuMipmappedArrayCreate)},
    {"cuMipmappedArrayDestroy", 5000, reinterpret_cast<void*>(&cuMipmappedArrayDestroy)},
    {"cuGraphAddMemAllocNode", 11040, reinterpret_cast<void*>(&cuGraphAddMemAllocNode)},
    {"cuGraphAddNode", 12020, reinterpret_cast<void*>(&cuGraphAddNode)},
    {"cuGraphAddNode_v2", 12030, reinterpret_cast<void*>(&cuGraphAddNode_v2)},
    {"cuGraphDestroy", 10000, reinterpret_cast<void*>(&cuGraphDestroy)},
    {"cuDeviceGraphMemTrim", 11040, reinterpret_cast<void*>(&cuDeviceGraphMemTrim)},
    // Executable graphs keep their graph's memory nodes; captures add memory nodes.
    {"cuGraphInstantiate", 10000, reinterpret_cast<void*>(&cuGraphInstantiate)},
    {"cuGraphInstantiate_v2", 11000, reinterpret_cast<void*>(&cuGraphInstantiate_v2)},
    {"cuGraphInstantiateWithFlags", 11040, reinterpret_cast<void*>(&cuGraphInstantiateWithFlags)},
    {"cuGraphInstantiateWithParams", 12000, reinterpret_cast<void*>(&cuGraphInstantiateWithParams)},
    {"cuGraphInstantiateWithParams_ptsz", 12000,
     reinterpret_cast<void*>(&cuGraphInstantiateWithParams_ptsz)},
    {"cuGraphExecDestroy", 10000, reinterpret_cast<void*>(&cuGraphExecDestroy)},
    {"cuStreamEndCapture", 10000, reinterpret_cast<void*>(&cuStreamEndCapture)},
    {"cuStreamEndCapture_ptsz", 10000, reinterpret_cast<void*>(&cuStreamEndCapture_ptsz)},

    // A restored checkpoint brings memory back onto the GPU.
    {"cuCheckpointProcessRestore", 12080, reinterpret_cast<void*>(&cuCheckpointProcessRestore)},

    // Every launch path.
    {"cuLaunch", 2000, reinterpret_cast<void*>(&cuLaunch)},
    {"cuLaunchGrid", 2000, reinterpret_cast<void*>(&cuLaunchGrid)},
    {"cuLaunchGridAsync", 2000, reinterpret_cast<void*>(&cuLaunchGridAsync)},
    {"cuLaunchKernel", 4000, reinterpret_cast<void*>(&cuLaunchKernel)},
    {"cuLaunchKernel_ptsz", 7000, reinterpret_cast<void*>(&cuLaunchKernel_ptsz)},
    {"cuLaunchKernelEx", 11060, reinterpret_cast<void*>(&cuLaunchKernelEx)},
    {"cuLaunchKernelEx_ptsz", 11060, reinterpret_cast<void*>(&cuLaunchKernelEx_ptsz)},
    {"cuLaunchCooperativeKernel", 9000, reinterpret_cast<void*>(&cuLaunchCooperativeKernel)},
    {"cuLaunchCooperativeKernel_ptsz", 9000,
     reinterpret_cast<void*>(&cuLaunchCooperativeKernel_ptsz)},
    {"cuLaunchCooperativeKernelMultiDevice", 9000,
     reinterpret_cast<void*>(&cuLaunchCooperativeKernelMultiDevice)},
    {"cuGraphLaunch", 10000, reinterpret_cast<void*>(&cuGraphLaunch)},
    {"cuGraphLaunch_ptsz", 10000, reinterpret_cast<void*>(&cuGraphLaunch_ptsz)},
};

}  // namespace

std::span<const HookEntry> HookTable() { return kHooks; }

}  // namespace gpuslice::preload
