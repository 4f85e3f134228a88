// Creating and freeing the driver's resources, shared by the entry points and by context
// teardown: device memory (counted on the simulated GPU), arrays and modules.
#pragma once

#include <cstddef>

#include "core/abi/cuda.h"
#include "sim/cuda/driver.h"
#include "sim/cuda/memory_map.h"

namespace gpuslice::sim::cuda {

// Allocates `bytes` of `kind` memory on ctx's GPU (host memory for the host kinds, counted
// nowhere); `low` for an address that fits 32 bits. CUDA_ERROR_OUT_OF_MEMORY when the GPU
// (or the host) cannot hold it, CUDA_ERROR_DEVICE_UNAVAILABLE when the GPU is lost.
CUresult AllocateMemory(Driver& driver, CUctx_st* ctx, size_t bytes, MemoryKind kind,
                        unsigned int host_flags, CUmemoryPool pool, CUdeviceptr* address,
                        bool low = false);

// Unmaps an allocation already removed from the memory map and gives its bytes back.
void ReleaseMemory(Driver& driver, const Allocation& allocation);

// Frees the allocation that starts at `address`, if it is of one of the kinds cuMemFree
// frees; `stream` is the stream of a cuMemFreeAsync (nullptr: freed synchronously).
// CUDA_ERROR_INVALID_VALUE otherwise.
CUresult FreeDeviceMemory(Driver& driver, CUdeviceptr address, CUstream_st* stream = nullptr);

// Stream-ordered allocation from a pool on `stream`: reuses a block the pool keeps when this
// stream may (see objects.h), or grows the pool by a new block from the GPU, even while it
// keeps spare blocks it may not reuse (trimming them first when the GPU is full).
CUresult PoolAllocate(Driver& driver, CUmemPoolHandle_st* pool, size_t bytes, CUstream_st* stream,
                      CUdeviceptr* address);
// Returns a pool block to its pool, which keeps the memory for reuse; freed on `stream`
// (nullptr: synchronously). CUDA_ERROR_INVALID_VALUE when the block is already free.
CUresult PoolFree(Driver& driver, const Allocation& block, CUstream_st* stream);
// Gives the pool's spare blocks back to the GPU until it holds at most `keep` bytes.
void PoolTrim(Driver& driver, CUmemPoolHandle_st* pool, size_t keep);
// What synchronization does to every pool: trims it to its release threshold.
void TrimPoolsToThreshold(Driver& driver);

// Graph memory: reserves the address range a graph allocation node hands out, and later
// backs it with (counted) memory when a launch allocates it.
std::shared_ptr<GraphAllocation> ReserveGraphAllocation(Driver& driver, int gpu, int device,
                                                        size_t bytes);
// Takes the memory from the device's graph pool, which grows (on the GPU) by what its kept
// memory does not cover. CUDA_ERROR_OUT_OF_MEMORY when the GPU cannot hold that; a no-op when
// already allocated.
CUresult MapGraphAllocation(Driver& driver, GraphAllocation& allocation);
// Frees the memory into the device's graph pool, which keeps it on the GPU until a trim
// (keeping the addresses reserved while a graph still refers to them).
void UnmapGraphAllocation(Driver& driver, GraphAllocation& allocation);
// cuDeviceGraphMemTrim: gives the graph pool's kept memory on node GPU `gpu` back to the GPU.
void TrimGraphMemory(Driver& driver, int gpu);
// Drops the address reservation once nothing refers to it and its memory is freed.
void ForgetGraphAllocation(Driver& driver, const std::shared_ptr<GraphAllocation>& allocation);

// Context limits (cuCtxSetLimit) and the device memory they reserve. A context's own memory
// (GpuSpec::context_memory_bytes) covers it at the default limits; raising a limit past its
// default reserves more: the stack for every thread the GPU can hold at once (stack size x
// SMs x threads per SM), the malloc heap and printf FIFO by their size, and
// kPendingLaunchBytes per pending device-side launch.
inline constexpr uint64_t kPendingLaunchBytes = 1024;
void DefaultLimits(const GpuSpec& gpu, size_t limits[CU_LIMIT_MAX]);
// Sets `limit` of `ctx` to `value`, reserving (or giving back) the device memory that takes.
// CUDA_ERROR_OUT_OF_MEMORY, limit unchanged, when the GPU cannot hold it.
CUresult SetContextLimit(Driver& driver, CUctx_st* ctx, CUlimit limit, size_t value);
// Before a launch in `ctx`: grows the context's stack to what the GPU's kernels need
// (GpuSpec::kernel_local_memory_bytes), as the real driver does at the first launch that needs
// more. CUDA_ERROR_OUT_OF_MEMORY when the GPU cannot hold it.
CUresult GrowStackForLaunch(Driver& driver, CUctx_st* ctx);

// Puts a module's code and data on its context's GPU (GpuSpec::module_memory_bytes), once.
// CUDA_ERROR_OUT_OF_MEMORY when the GPU cannot hold it.
CUresult LoadModuleCode(Driver& driver, CUmod_st* module);

void DestroyArray(Driver& driver, CUarray_st* array);
void DestroyMipmappedArray(Driver& driver, CUmipmappedArray_st* array);
void UnloadModule(Driver& driver, CUmod_st* module);

// Everything a context owns: its memory, arrays, modules, streams and events.
void ReleaseContextResources(Driver& driver, CUctx_st* ctx);

}  // namespace gpuslice::sim::cuda
