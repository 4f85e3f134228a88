// A client linked to libcuda.so.1 like most applications: the exported symbols it calls are
// libgpuslice's when the library is preloaded. Built twice: against gpuslice's ABI header and,
// where NVIDIA's cuda.h is installed, against it, whose macros pick the versioned
// symbols (cuMemAlloc -> cuMemAlloc_v2, cuCtxCreate -> cuCtxCreate_v4) as real programs do.
#include "driver_api.h"

int main() {
  gpuslice::testing::DriverApi api;
  api.init = &cuInit;
  api.device_get = &cuDeviceGet;
  api.primary_ctx_retain = &cuDevicePrimaryCtxRetain;
  api.ctx_set_current = &cuCtxSetCurrent;
  api.ctx_set_limit = &cuCtxSetLimit;
  api.device_graph_mem_trim = &cuDeviceGraphMemTrim;
  api.library_load_data = &cuLibraryLoadData;
  api.library_get_kernel = &cuLibraryGetKernel;
  api.ctx_synchronize = &cuCtxSynchronize;
  api.mem_alloc_managed = &cuMemAllocManaged;
  api.mem_alloc_async = &cuMemAllocAsync;
  api.mem_alloc_from_pool_async = &cuMemAllocFromPoolAsync;
  api.mem_free_async = &cuMemFreeAsync;
  api.device_get_default_mem_pool = &cuDeviceGetDefaultMemPool;
  api.mem_pool_set_attribute = &cuMemPoolSetAttribute;
  api.mem_pool_trim_to = &cuMemPoolTrimTo;
  api.mem_create = &cuMemCreate;
  api.mem_release = &cuMemRelease;
  api.mem_address_reserve = &cuMemAddressReserve;
  api.mem_address_free = &cuMemAddressFree;
  api.mem_map = &cuMemMap;
  api.mem_unmap = &cuMemUnmap;
  api.mem_export_to_shareable_handle = &cuMemExportToShareableHandle;
  api.mem_import_from_shareable_handle = &cuMemImportFromShareableHandle;
  api.array_destroy = &cuArrayDestroy;
  api.mipmapped_array_create = &cuMipmappedArrayCreate;
  api.mipmapped_array_destroy = &cuMipmappedArrayDestroy;
  api.graph_create = &cuGraphCreate;
  api.graph_add_mem_alloc_node = &cuGraphAddMemAllocNode;
  api.graph_destroy = &cuGraphDestroy;
  api.graph_launch = &cuGraphLaunch;
  api.graph_instantiate_with_params = &cuGraphInstantiateWithParams;
  api.graph_exec_destroy = &cuGraphExecDestroy;
  api.stream_create = &cuStreamCreate;
  api.stream_synchronize = &cuStreamSynchronize;
  api.stream_end_capture = &cuStreamEndCapture;
  api.module_load_data = &cuModuleLoadData;
  api.module_get_function = &cuModuleGetFunction;
  api.launch_kernel = &cuLaunchKernel;
  api.launch_kernel_ex = &cuLaunchKernelEx;
  api.launch_cooperative_kernel = &cuLaunchCooperativeKernel;
  api.checkpoint_lock = &cuCheckpointProcessLock;
  api.checkpoint_checkpoint = &cuCheckpointProcessCheckpoint;
  api.checkpoint_restore = &cuCheckpointProcessRestore;
  api.checkpoint_unlock = &cuCheckpointProcessUnlock;
  api.checkpoint_get_state = &cuCheckpointProcessGetState;
#ifdef GPUSLICE_REAL_CUDA_H
  // The names applications write; cuda.h maps each to the symbol of its current version.
  api.ctx_create = &cuCtxCreate;
  api.ctx_destroy = &cuCtxDestroy;
  api.mem_get_info = &cuMemGetInfo;
  api.device_total_mem = &cuDeviceTotalMem;
  api.mem_alloc = &cuMemAlloc;
  api.mem_free = &cuMemFree;
  api.mem_alloc_pitch = &cuMemAllocPitch;
  api.array_create = &cuArrayCreate;
  api.graph_instantiate = &cuGraphInstantiate;
  api.graph_add_kernel_node = &cuGraphAddKernelNode;
  api.stream_begin_capture = &cuStreamBeginCapture;
#else
  api.ctx_create = &cuCtxCreate_v4;
  api.ctx_destroy = &cuCtxDestroy_v2;
  api.mem_get_info = &cuMemGetInfo_v2;
  api.device_total_mem = &cuDeviceTotalMem_v2;
  api.mem_alloc = &cuMemAlloc_v2;
  api.mem_free = &cuMemFree_v2;
  api.mem_alloc_pitch = &cuMemAllocPitch_v2;
  api.array_create = &cuArrayCreate_v2;
  api.graph_instantiate = &cuGraphInstantiateWithFlags;
  api.graph_add_kernel_node = &cuGraphAddKernelNode_v2;
  api.mem_alloc_v1 = &cuMemAlloc;
  api.mem_free_v1 = &cuMemFree;
  api.stream_begin_capture = &cuStreamBeginCapture_v2;
  api.graph_instantiate_v1 = &cuGraphInstantiate;
  api.graph_instantiate_v2 = &cuGraphInstantiate_v2;
#endif
  return gpuslice::testing::RunClient(api);
}
