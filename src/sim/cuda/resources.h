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
// frees. CUDA_ERROR_INVALID_VALUE otherwise.
CUresult FreeDeviceMemory(Driver& driver, CUdeviceptr address);

// Stream-ordered allocation from a pool: reuses a block the pool keeps, or takes a new one
// from the GPU (trimming the pool's spare blocks first when the GPU is full).
CUresult PoolAllocate(Driver& driver, CUmemPoolHandle_st* pool, size_t bytes, CUdeviceptr* address);
// Returns a pool block to its pool, which keeps the memory for reuse.
// CUDA_ERROR_INVALID_VALUE when the block is already free.
CUresult PoolFree(Driver& driver, const Allocation& block);
// Gives the pool's spare blocks back to the GPU until it holds at most `keep` bytes.
void PoolTrim(Driver& driver, CUmemPoolHandle_st* pool, size_t keep);
// What synchronization does to every pool: trims it to its release threshold.
void TrimPoolsToThreshold(Driver& driver);

// Graph memory: reserves the address range a graph allocation node hands out, and later
// backs it with (counted) memory when a launch allocates it.
std::shared_ptr<GraphAllocation> ReserveGraphAllocation(Driver& driver, int gpu, int device,
                                                        size_t bytes);
// CUDA_ERROR_OUT_OF_MEMORY when the GPU cannot hold it; a no-op when already allocated.
CUresult MapGraphAllocation(Driver& driver, GraphAllocation& allocation);
// Frees the memory (keeping the addresses reserved while a graph still refers to them).
void UnmapGraphAllocation(Driver& driver, GraphAllocation& allocation);
// Drops the address reservation once nothing refers to it and its memory is freed.
void ForgetGraphAllocation(Driver& driver, const std::shared_ptr<GraphAllocation>& allocation);

void DestroyArray(Driver& driver, CUarray_st* array);
void DestroyMipmappedArray(Driver& driver, CUmipmappedArray_st* array);
void UnloadModule(Driver& driver, CUmod_st* module);

// Everything a context owns: its memory, arrays, modules, streams and events.
void ReleaseContextResources(Driver& driver, CUctx_st* ctx);

}  // namespace gpuslice::sim::cuda
