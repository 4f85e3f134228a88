// Graph operations shared by the entry points: building, cloning, instantiating and executing
// graphs, and stream capture (launches, copies and stream-ordered allocations made on a
// capturing stream become graph nodes).
#pragma once

#include <memory>
#include <vector>

#include "core/abi/cuda.h"
#include "sim/cuda/driver.h"

namespace gpuslice::sim::cuda {

// A deep copy; graph allocations are shared with the original (their addresses are fixed).
std::unique_ptr<CUgraph_st> Clone(const CUgraph_st& source);

// Deletes a graph (or an executable graph's snapshot) and the address ranges only it held.
void DeleteGraph(Driver& driver, std::unique_ptr<CUgraph_st> graph);

// Runs nodes in `order` on `stream`: kernels are queued on the GPU, copies, memsets and host
// nodes happen now, graph memory is allocated and freed. With `auto_free`, allocations still
// live from an earlier launch are freed first; without, they make the launch fail.
CUresult Execute(Driver& driver, const std::vector<CUgraphNode_st*>& order, CUstream_st* stream,
                 bool auto_free);

// Adds `node` to `graph` after `dependencies` (nodes of the same graph) and returns it in *added.
CUresult AddNode(Driver& driver, CUgraph graph, const CUgraphNode* dependencies, size_t count,
                 std::unique_ptr<CUgraphNode_st> node, CUgraphNode* added);

// Node builders; CUDA_ERROR_INVALID_VALUE for parameters the real driver refuses.
CUresult KernelNode(Driver& driver, const CUDA_KERNEL_NODE_PARAMS& params,
                    std::unique_ptr<CUgraphNode_st>* node);
CUresult FreeNode(Driver& driver, CUdeviceptr address, std::unique_ptr<CUgraphNode_st>* node);

// Snapshots `graph` into an executable graph. CUDA_ERROR_INVALID_VALUE for a cycle.
CUresult InstantiateGraph(Driver& driver, CUgraphExec* exec, CUgraph graph,
                          unsigned long long flags);

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
