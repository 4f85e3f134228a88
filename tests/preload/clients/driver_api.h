// The driver entry points the test clients use, as a table each client style fills its own
// way: linked symbols, cuGetProcAddress_v2 (as the CUDA runtime does) or dlsym (as cuBLAS
// does). Compiles against gpuslice's core/abi/cuda.h or, with GPUSLICE_REAL_CUDA_H, against
// NVIDIA's own cuda.h.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#ifdef GPUSLICE_REAL_CUDA_H
#include <cuda.h>
#else
#include "core/abi/cuda.h"
#endif

namespace gpuslice::testing {

struct DriverApi {
  CUresult (*init)(unsigned int) = nullptr;
  CUresult (*device_get)(CUdevice*, int) = nullptr;
  CUresult (*primary_ctx_retain)(CUcontext*, CUdevice) = nullptr;
  CUresult (*ctx_create)(CUcontext*, CUctxCreateParams*, unsigned int, CUdevice) = nullptr;
  CUresult (*ctx_set_current)(CUcontext) = nullptr;
  CUresult (*ctx_destroy)(CUcontext) = nullptr;
  CUresult (*ctx_set_limit)(CUlimit, size_t) = nullptr;
  CUresult (*ctx_synchronize)() = nullptr;
  CUresult (*mem_get_info)(size_t*, size_t*) = nullptr;
  CUresult (*device_total_mem)(size_t*, CUdevice) = nullptr;
  CUresult (*mem_alloc)(CUdeviceptr*, size_t) = nullptr;
  CUresult (*mem_free)(CUdeviceptr) = nullptr;
  CUresult (*mem_alloc_pitch)(CUdeviceptr*, size_t*, size_t, size_t, unsigned int) = nullptr;
  CUresult (*mem_alloc_managed)(CUdeviceptr*, size_t, unsigned int) = nullptr;
  CUresult (*mem_alloc_async)(CUdeviceptr*, size_t, CUstream) = nullptr;
  CUresult (*mem_alloc_from_pool_async)(CUdeviceptr*, size_t, CUmemoryPool, CUstream) = nullptr;
  CUresult (*mem_free_async)(CUdeviceptr, CUstream) = nullptr;
  CUresult (*device_get_default_mem_pool)(CUmemoryPool*, CUdevice) = nullptr;
  CUresult (*mem_pool_set_attribute)(CUmemoryPool, CUmemPool_attribute, void*) = nullptr;
  CUresult (*mem_pool_trim_to)(CUmemoryPool, size_t) = nullptr;
  CUresult (*mem_create)(CUmemGenericAllocationHandle*, size_t, const CUmemAllocationProp*,
                         unsigned long long) = nullptr;
  CUresult (*mem_release)(CUmemGenericAllocationHandle) = nullptr;
  CUresult (*mem_address_reserve)(CUdeviceptr*, size_t, size_t, CUdeviceptr,
                                  unsigned long long) = nullptr;
  CUresult (*mem_address_free)(CUdeviceptr, size_t) = nullptr;
  CUresult (*mem_map)(CUdeviceptr, size_t, size_t, CUmemGenericAllocationHandle,
                      unsigned long long) = nullptr;
  CUresult (*mem_unmap)(CUdeviceptr, size_t) = nullptr;
  CUresult (*mem_export_to_shareable_handle)(void*, CUmemGenericAllocationHandle,
                                             CUmemAllocationHandleType,
                                             unsigned long long) = nullptr;
  CUresult (*mem_import_from_shareable_handle)(CUmemGenericAllocationHandle*, void*,
                                               CUmemAllocationHandleType) = nullptr;
  CUresult (*array_create)(CUarray*, const CUDA_ARRAY_DESCRIPTOR*) = nullptr;
  CUresult (*array_destroy)(CUarray) = nullptr;
  CUresult (*mipmapped_array_create)(CUmipmappedArray*, const CUDA_ARRAY3D_DESCRIPTOR*,
                                     unsigned int) = nullptr;
  CUresult (*mipmapped_array_destroy)(CUmipmappedArray) = nullptr;
  CUresult (*graph_create)(CUgraph*, unsigned int) = nullptr;
  CUresult (*graph_add_mem_alloc_node)(CUgraphNode*, CUgraph, const CUgraphNode*, size_t,
                                       CUDA_MEM_ALLOC_NODE_PARAMS*) = nullptr;
  CUresult (*graph_destroy)(CUgraph) = nullptr;
  CUresult (*graph_instantiate)(CUgraphExec*, CUgraph, unsigned long long) = nullptr;
  CUresult (*graph_add_kernel_node)(CUgraphNode*, CUgraph, const CUgraphNode*, size_t,
                                    const CUDA_KERNEL_NODE_PARAMS*) = nullptr;
  CUresult (*graph_launch)(CUgraphExec, CUstream) = nullptr;
  CUresult (*graph_instantiate_with_params)(CUgraphExec*, CUgraph,
                                            CUDA_GRAPH_INSTANTIATE_PARAMS*) = nullptr;
  CUresult (*graph_exec_destroy)(CUgraphExec) = nullptr;
  CUresult (*device_graph_mem_trim)(CUdevice) = nullptr;
  CUresult (*stream_create)(CUstream*, unsigned int) = nullptr;
  CUresult (*stream_synchronize)(CUstream) = nullptr;
  CUresult (*stream_begin_capture)(CUstream, CUstreamCaptureMode) = nullptr;
  CUresult (*stream_end_capture)(CUstream, CUgraph*) = nullptr;
  CUresult (*module_load_data)(CUmodule*, const void*) = nullptr;
  CUresult (*module_get_function)(CUfunction*, CUmodule, const char*) = nullptr;
  CUresult (*library_load_data)(CUlibrary*, const void*, CUjit_option*, void**, unsigned int,
                                CUlibraryOption*, void**, unsigned int) = nullptr;
  CUresult (*library_get_kernel)(CUkernel*, CUlibrary, const char*) = nullptr;
  CUresult (*launch_kernel)(CUfunction, unsigned int, unsigned int, unsigned int, unsigned int,
                            unsigned int, unsigned int, unsigned int, CUstream, void**,
                            void**) = nullptr;
  CUresult (*launch_kernel_ex)(const CUlaunchConfig*, CUfunction, void**, void**) = nullptr;
  CUresult (*launch_cooperative_kernel)(CUfunction, unsigned int, unsigned int, unsigned int,
                                        unsigned int, unsigned int, unsigned int, unsigned int,
                                        CUstream, void**) = nullptr;
  CUresult (*checkpoint_lock)(int, CUcheckpointLockArgs*) = nullptr;
  CUresult (*checkpoint_checkpoint)(int, CUcheckpointCheckpointArgs*) = nullptr;
  CUresult (*checkpoint_restore)(int, CUcheckpointRestoreArgs*) = nullptr;
  CUresult (*checkpoint_unlock)(int, CUcheckpointUnlockArgs*) = nullptr;
  CUresult (*checkpoint_get_state)(int, CUprocessState*) = nullptr;
  // Legacy 32-bit entry points and the CUDA 10 and 11 cuGraphInstantiate; null where the
  // client's header does not declare them.
  CUresult (*mem_alloc_v1)(unsigned int*, unsigned int) = nullptr;
  CUresult (*mem_free_v1)(unsigned int) = nullptr;
  CUresult (*graph_instantiate_v1)(CUgraphExec*, CUgraph, CUgraphNode*, char*, size_t) = nullptr;
  CUresult (*graph_instantiate_v2)(CUgraphExec*, CUgraph, CUgraphNode*, char*, size_t) = nullptr;
};

// Finds an entry point by its CUDA API name ("cuMemAlloc") and the CUDA version whose variant
// is wanted (3020: cuMemAlloc_v2), or nullptr.
using Resolver = void* (*)(const char* name, int cuda_version);

// Fills every entry of `api` through `resolve`, as a client that never links libcuda does.
void ResolveAll(DriverApi& api, Resolver resolve);

// A client's own commands beyond RunClient's: returns the answer lines (ended by "end") for a
// line it handles, or an empty vector.
using ExtraCommands = std::vector<std::string> (*)(const std::string& line);

// Reads commands from standard input and answers each on standard output (see client.cc for
// the commands). Returns the process exit code.
int RunClient(const DriverApi& api, ExtraCommands extra = nullptr);

// "<library basename> <symbol>" of the function at `address`, as dladdr sees it.
std::string DescribeFunction(const void* address);

}  // namespace gpuslice::testing
