// Hooks of graph memory: allocation nodes are charged when added, allocations on a capturing
// stream when made, and both stay charged while their graph or an executable instantiated from
// it exists (preload/graph_memory.h says why): given back at the last of cuGraphDestroy and
// cuGraphExecDestroy, or at the end of a capture that yields no graph.
#include "core/abi/cuda.h"
#include "preload/hooks.h"
#include "preload/internal/hook_support.h"

namespace gpuslice::preload {
namespace {

using internal::CallDriver;
using internal::CaptureOf;
using internal::PendingCharge;
using internal::Refusal;
using internal::StreamKey;
using internal::ToCuResult;

uint64_t Handle(const void* handle) { return reinterpret_cast<uint64_t>(handle); }

void GiveBack(Runtime& runtime, const std::vector<Allocation>& allocations) {
  for (const Allocation& allocation : allocations) {
    runtime.ledger().Refund(allocation.device, allocation.bytes);
  }
}

int SliceOfPool(Runtime& runtime, const CUmemPoolProps& pool) {
  return pool.location.type == CU_MEM_LOCATION_TYPE_DEVICE ? runtime.SliceOfDevice(pool.location.id)
                                                           : -1;
}

// Charges an allocation node of `bytes` from `pool`, adds it with `add`, and gives the charge
// to `graph`.
template <typename Add>
CUresult AddAllocationNode(CUgraph graph, const CUmemPoolProps& pool, size_t bytes, Add add) {
  Runtime& runtime = Runtime::Get();
  PendingCharge charge(runtime, SliceOfPool(runtime, pool), bytes);
  if (!charge.fits()) return ToCuResult(Refusal::kOverLimit);
  const CUresult result = add();
  if (result == CUDA_SUCCESS) {
    if (std::optional<Allocation> charged = charge.CommitToGraph()) {
      runtime.graph_memory().Added(Handle(graph), *charged);
    }
  }
  return result;
}

template <auto Hook, typename... Args>
CUresult AddNode(CUgraph graph, CUgraphNodeParams* params, Args... args) {
  if (!Runtime::Get().enforcing() || params == nullptr ||
      params->type != CU_GRAPH_NODE_TYPE_MEM_ALLOC) {
    return CallDriver<Hook>(args...);
  }
  return AddAllocationNode(graph, params->alloc.poolProps, params->alloc.bytesize,
                           [&] { return CallDriver<Hook>(args...); });
}

// An executable made by the driver's instantiate behind `Hook` holds its graph's memory.
template <auto Hook, typename... Args>
CUresult Instantiate(CUgraphExec* exec, CUgraph graph, Args... args) {
  Runtime& runtime = Runtime::Get();
  const CUresult result = CallDriver<Hook>(exec, graph, args...);
  if (result == CUDA_SUCCESS && runtime.enforcing()) {
    runtime.graph_memory().Instantiated(Handle(graph), Handle(*exec));
  }
  return result;
}

// Ends the capture on `stream` (`queried`: the same stream as other entry points name it)
// through `Hook`: what was allocated for it becomes the captured graph's, or is given back
// when the capture yields no graph.
template <auto Hook>
CUresult EndCapture(CUstream stream, CUgraph* graph, CUstream queried) {
  Runtime& runtime = Runtime::Get();
  if (!runtime.enforcing()) return CallDriver<Hook>(stream, graph);
  const std::optional<uint64_t> capture = CaptureOf(queried);
  const CUresult result = CallDriver<Hook>(stream, graph);
  GraphMemory& memory = runtime.graph_memory();
  if (result == CUDA_SUCCESS) {
    if (capture) memory.CaptureEnded(*capture, Handle(*graph));
  } else if (!CaptureOf(queried)) {
    GiveBack(runtime,
             capture ? memory.CaptureFailed(*capture) : memory.CaptureFailedOn(StreamKey(queried)));
  }
  return result;
}

}  // namespace
}  // namespace gpuslice::preload

namespace hooks = gpuslice::preload;

GPUSLICE_HOOK CUresult cuGraphAddMemAllocNode(CUgraphNode* node, CUgraph graph,
                                              const CUgraphNode* dependencies,
                                              size_t dependency_count,
                                              CUDA_MEM_ALLOC_NODE_PARAMS* params) {
  const auto add = [&] {
    return hooks::internal::CallDriver<cuGraphAddMemAllocNode>(node, graph, dependencies,
                                                               dependency_count, params);
  };
  if (!hooks::Runtime::Get().enforcing() || params == nullptr) return add();
  return hooks::AddAllocationNode(graph, params->poolProps, params->bytesize, add);
}

GPUSLICE_HOOK CUresult cuGraphAddNode(CUgraphNode* node, CUgraph graph,
                                      const CUgraphNode* dependencies, size_t dependency_count,
                                      CUgraphNodeParams* params) {
  return hooks::AddNode<cuGraphAddNode>(graph, params, node, graph, dependencies, dependency_count,
                                        params);
}

GPUSLICE_HOOK CUresult cuGraphAddNode_v2(CUgraphNode* node, CUgraph graph,
                                         const CUgraphNode* dependencies,
                                         const CUgraphEdgeData* edges, size_t dependency_count,
                                         CUgraphNodeParams* params) {
  return hooks::AddNode<cuGraphAddNode_v2>(graph, params, node, graph, dependencies, edges,
                                           dependency_count, params);
}

GPUSLICE_HOOK CUresult cuGraphDestroy(CUgraph graph) {
  hooks::Runtime& runtime = hooks::Runtime::Get();
  const CUresult result = hooks::internal::CallDriver<cuGraphDestroy>(graph);
  if (result == CUDA_SUCCESS && runtime.enforcing()) {
    hooks::GiveBack(runtime, runtime.graph_memory().GraphDestroyed(hooks::Handle(graph)));
  }
  return result;
}

GPUSLICE_HOOK CUresult cuGraphInstantiate(CUgraphExec* exec, CUgraph graph, CUgraphNode* error_node,
                                          char* log, size_t log_size) {
  return hooks::Instantiate<cuGraphInstantiate>(exec, graph, error_node, log, log_size);
}

GPUSLICE_HOOK CUresult cuGraphInstantiate_v2(CUgraphExec* exec, CUgraph graph,
                                             CUgraphNode* error_node, char* log, size_t log_size) {
  return hooks::Instantiate<cuGraphInstantiate_v2>(exec, graph, error_node, log, log_size);
}

GPUSLICE_HOOK CUresult cuGraphInstantiateWithFlags(CUgraphExec* exec, CUgraph graph,
                                                   unsigned long long flags) {
  return hooks::Instantiate<cuGraphInstantiateWithFlags>(exec, graph, flags);
}

GPUSLICE_HOOK CUresult cuGraphInstantiateWithParams(CUgraphExec* exec, CUgraph graph,
                                                    CUDA_GRAPH_INSTANTIATE_PARAMS* params) {
  return hooks::Instantiate<cuGraphInstantiateWithParams>(exec, graph, params);
}

GPUSLICE_HOOK CUresult cuGraphInstantiateWithParams_ptsz(CUgraphExec* exec, CUgraph graph,
                                                         CUDA_GRAPH_INSTANTIATE_PARAMS* params) {
  return hooks::Instantiate<cuGraphInstantiateWithParams_ptsz>(exec, graph, params);
}

GPUSLICE_HOOK CUresult cuGraphExecDestroy(CUgraphExec exec) {
  hooks::Runtime& runtime = hooks::Runtime::Get();
  const CUresult result = hooks::internal::CallDriver<cuGraphExecDestroy>(exec);
  if (result == CUDA_SUCCESS && runtime.enforcing()) {
    hooks::GiveBack(runtime, runtime.graph_memory().ExecDestroyed(hooks::Handle(exec)));
  }
  return result;
}

GPUSLICE_HOOK CUresult cuStreamEndCapture(CUstream stream, CUgraph* graph) {
  return hooks::EndCapture<cuStreamEndCapture>(stream, graph, stream);
}

GPUSLICE_HOOK CUresult cuStreamEndCapture_ptsz(CUstream stream, CUgraph* graph) {
  return hooks::EndCapture<cuStreamEndCapture_ptsz>(stream, graph,
                                                    hooks::internal::PerThreadStream(stream));
}
