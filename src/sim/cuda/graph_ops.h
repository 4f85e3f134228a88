// Graph operations shared with the other entry points: stream capture (launches, copies and
// stream-ordered allocations made on a capturing stream become graph nodes) and graph
// execution.
#pragma once

#include <memory>

#include "core/abi/cuda.h"
#include "sim/cuda/driver.h"

namespace gpuslice::sim::cuda {

bool IsCapturing(CUstream_st* stream);

// When `stream` is capturing, adds `node` to the capture graph after the capture's current
// dependencies (it becomes the new one), sets *result and *added, and returns true; *result
// is CUDA_ERROR_STREAM_CAPTURE_INVALIDATED when the capture was invalidated. Returns false
// when the stream is not capturing.
bool CaptureNode(Driver& driver, CUstream_st* stream, std::unique_ptr<CUgraphNode_st> node,
                 CUresult* result, CUgraphNode_st** added = nullptr);

// For operations a capturing stream does not allow (synchronization, synchronous copies):
// invalidates the capture and returns CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, or CUDA_SUCCESS
// when the stream is not capturing.
CUresult RejectWhileCapturing(CUstream_st* stream);

// A node for a graph memory allocation of `bytes` on `device`; its address is fixed now.
CUresult MakeAllocNode(Driver& driver, CUdevice device, size_t bytes,
                       std::unique_ptr<CUgraphNode_st>* node);

}  // namespace gpuslice::sim::cuda
