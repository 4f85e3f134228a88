// The CUDA driver entry points the proof kit's driver-API program uses, found at run time the
// way the CUDA runtime finds them (dlopen of libcuda.so.1, then cuGetProcAddress_v2 for each
// name), so the program builds with nothing but a C++ compiler and runs on any driver.
// Compiles against NVIDIA's cuda.h (GPUSLICE_REAL_CUDA_H) or gpuslice's core/abi/cuda.h.
#pragma once

#include <string>

#ifdef GPUSLICE_REAL_CUDA_H
#include <cuda.h>
#else
#include "core/abi/cuda.h"
#endif

namespace gpuslice::proof {

struct DriverTable {
  CUresult (*init)(unsigned int) = nullptr;
  CUresult (*driver_get_version)(int*) = nullptr;
  CUresult (*get_error_name)(CUresult, const char**) = nullptr;
  CUresult (*device_get_count)(int*) = nullptr;
  CUresult (*device_get)(CUdevice*, int) = nullptr;
  CUresult (*device_get_name)(char*, int, CUdevice) = nullptr;
  CUresult (*device_get_uuid)(CUuuid*, CUdevice) = nullptr;
  CUresult (*device_get_attribute)(int*, CUdevice_attribute, CUdevice) = nullptr;
  CUresult (*device_total_mem)(size_t*, CUdevice) = nullptr;
  CUresult (*primary_ctx_retain)(CUcontext*, CUdevice) = nullptr;
  CUresult (*ctx_set_current)(CUcontext) = nullptr;
  CUresult (*ctx_synchronize)() = nullptr;
  CUresult (*mem_get_info)(size_t*, size_t*) = nullptr;
  CUresult (*mem_alloc)(CUdeviceptr*, size_t) = nullptr;
  CUresult (*mem_free)(CUdeviceptr) = nullptr;
  CUresult (*mem_alloc_pitch)(CUdeviceptr*, size_t*, size_t, size_t, unsigned int) = nullptr;
  CUresult (*mem_alloc_managed)(CUdeviceptr*, size_t, unsigned int) = nullptr;
  CUresult (*mem_alloc_async)(CUdeviceptr*, size_t, CUstream) = nullptr;
  CUresult (*mem_free_async)(CUdeviceptr, CUstream) = nullptr;
  CUresult (*device_get_default_mem_pool)(CUmemoryPool*, CUdevice) = nullptr;
  CUresult (*mem_pool_create)(CUmemoryPool*, const CUmemPoolProps*) = nullptr;
  CUresult (*mem_pool_destroy)(CUmemoryPool) = nullptr;
  CUresult (*mem_pool_trim_to)(CUmemoryPool, size_t) = nullptr;
  CUresult (*mem_alloc_from_pool_async)(CUdeviceptr*, size_t, CUmemoryPool, CUstream) = nullptr;
  CUresult (*mem_get_allocation_granularity)(size_t*, const CUmemAllocationProp*,
                                             CUmemAllocationGranularity_flags) = nullptr;
  CUresult (*mem_create)(CUmemGenericAllocationHandle*, size_t, const CUmemAllocationProp*,
                         unsigned long long) = nullptr;
  CUresult (*mem_release)(CUmemGenericAllocationHandle) = nullptr;
  CUresult (*mem_address_reserve)(CUdeviceptr*, size_t, size_t, CUdeviceptr,
                                  unsigned long long) = nullptr;
  CUresult (*mem_address_free)(CUdeviceptr, size_t) = nullptr;
  CUresult (*mem_map)(CUdeviceptr, size_t, size_t, CUmemGenericAllocationHandle,
                      unsigned long long) = nullptr;
  CUresult (*mem_unmap)(CUdeviceptr, size_t) = nullptr;
  CUresult (*mem_set_access)(CUdeviceptr, size_t, const CUmemAccessDesc*, size_t) = nullptr;
  CUresult (*array_create)(CUarray*, const CUDA_ARRAY_DESCRIPTOR*) = nullptr;
  CUresult (*array_destroy)(CUarray) = nullptr;
  CUresult (*mipmapped_array_create)(CUmipmappedArray*, const CUDA_ARRAY3D_DESCRIPTOR*,
                                     unsigned int) = nullptr;
  CUresult (*mipmapped_array_destroy)(CUmipmappedArray) = nullptr;
  CUresult (*graph_create)(CUgraph*, unsigned int) = nullptr;
  CUresult (*graph_add_mem_alloc_node)(CUgraphNode*, CUgraph, const CUgraphNode*, size_t,
                                       CUDA_MEM_ALLOC_NODE_PARAMS*) = nullptr;
  CUresult (*graph_destroy)(CUgraph) = nullptr;
  CUresult (*memcpy_htod)(CUdeviceptr, const void*, size_t) = nullptr;
  CUresult (*memcpy_dtoh)(void*, CUdeviceptr, size_t) = nullptr;
  CUresult (*module_load_data)(CUmodule*, const void*) = nullptr;
  CUresult (*module_get_function)(CUfunction*, CUmodule, const char*) = nullptr;
  CUresult (*launch_kernel)(CUfunction, unsigned int, unsigned int, unsigned int, unsigned int,
                            unsigned int, unsigned int, unsigned int, CUstream, void**,
                            void**) = nullptr;
  CUresult (*event_create)(CUevent*, unsigned int) = nullptr;
  CUresult (*event_record)(CUevent, CUstream) = nullptr;
  CUresult (*event_synchronize)(CUevent) = nullptr;
  CUresult (*event_elapsed_time)(float*, CUevent, CUevent) = nullptr;
};

// Handle of libcuda.so.1 and the table filled from it.
struct Driver {
  void* library = nullptr;
  // The driver's own cuGetProcAddress_v2 as dlsym answered it (libgpuslice's when preloaded).
  CUresult (*get_proc_address)(const char*, void**, int, cuuint64_t,
                               CUdriverProcAddressQueryResult*) = nullptr;
  int version = 0;  // cuDriverGetVersion
  DriverTable api;
};

// Loads libcuda.so.1 and resolves every entry of the table for the driver's own CUDA version.
// Returns "" on success, else what is missing ("libcuda.so.1: <dlerror>", "cuMemCreate: not
// found").
std::string LoadDriver(Driver* driver);

// Where an entry point lives, as dladdr names its object ("libgpuslice.so", "libcuda.so.1").
std::string ObjectOf(const void* function);

// "CUDA_ERROR_OUT_OF_MEMORY (2)", from the driver's own names.
std::string ErrorText(const Driver& driver, CUresult result);

// The PTX module of the kit's kernels, JIT-compiled by the driver: gpuslice_proof_add(a, b, c,
// n) sets c[i] = a[i] + b[i] for i < n; gpuslice_proof_work(out, iterations) runs a chain of
// `iterations` dependent FMAs per thread and stores it; gpuslice_proof_empty() does nothing.
extern const char kProofPtx[];

}  // namespace gpuslice::proof
