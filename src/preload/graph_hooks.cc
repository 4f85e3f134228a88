// Hooks of graph memory: allocation nodes are charged when added, allocations on a capturing
// stream when made, and graph memory stays charged while the driver holds it or a graph that
// may launch needs it (preload/graph_memory.h says how): followed at every graph and executable
// destroy, launch of an executable with memory nodes, trim, and end of a capture.
#include "core/abi/cuda.h"
#include "preload/hooks.h"
#include "preload/internal/hook_support.h"

namespace gpuslice::preload {
namespace {

using internal::CallDriver;
using internal::CaptureOf;
using internal::Refusal;
using internal::StreamKey;
using internal::ToCuResult;

uint64_t Handle(const void* handle) { return reinterpret_cast<uint64_t>(handle); }

int SliceOfPool(Runtime& runtime, const CUmemPoolProps& pool) {
  return pool.location.type == CU_MEM_LOCATION_TYPE_DEVICE ? runtime.SliceOfDevice(pool.location.id)
                                                           : -1;
}

// Adds an allocation node of `bytes` from `pool` to `graph` with `add`, charged to the graph;
// when the charge does not fit, brings every charge to what the driver reports and tries again.
template <typename Add>
CUresult AddAllocationNode(CUgraph graph, const CUmemPoolProps& pool, size_t bytes, Add add) {
  Runtime& runtime = Runtime::Get();
  const int slice = SliceOfPool(runtime, pool);
  if (slice < 0) return add();
  const auto charged_add = [&] {
    return runtime.graph_memory().AddNode(runtime.ledger(), slice, pool.location.id, bytes,
                                          Handle(graph), /*captured=*/false, 0, add);
  };
  std::optional<CUresult> result = charged_add();
  if (!result) {
    runtime.Reconcile(slice);
    result = charged_add();
  }
  return result ? *result : ToCuResult(Refusal::kOverLimit);
}

// cuGraphAddNode and _v2: allocation nodes are charged; a child graph moved into its parent
// hands its nodes over.
template <auto Hook, typename... Args>
CUresult AddNode(CUgraph graph, CUgraphNodeParams* params, Args... args) {
  Runtime& runtime = Runtime::Get();
  if (!runtime.enforcing() || params == nullptr) return CallDriver<Hook>(args...);
  if (params->type == CU_GRAPH_NODE_TYPE_MEM_ALLOC) {
    return AddAllocationNode(graph, params->alloc.poolProps, params->alloc.bytesize,
                             [&] { return CallDriver<Hook>(args...); });
  }
  const CUgraph child = params->graph.graph;
  const bool moved = params->type == CU_GRAPH_NODE_TYPE_GRAPH &&
                     params->graph.ownership == CU_GRAPH_CHILD_GRAPH_OWNERSHIP_MOVE;
  const CUresult result = CallDriver<Hook>(args...);
  if (result == CUDA_SUCCESS && moved) runtime.graph_memory().Moved(Handle(child), Handle(graph));
  return result;
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
// through `Hook`: what was allocated for it becomes the captured graph's, or is forgotten
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
    if (capture) {
      memory.CaptureFailed(runtime.ledger(), *capture);
    } else {
      memory.CaptureFailedOn(runtime.ledger(), StreamKey(queried));
    }
  }
  return result;
}

// Launches an executable through `Hook`, after the compute gate; an executable holding memory
// nodes has then taken their memory from its device's graph pool.
template <auto Hook>
CUresult LaunchGraph(CUgraphExec exec, CUstream stream) {
  Runtime& runtime = Runtime::Get();
  runtime.BeforeLaunch(stream);
  const CUresult result = CallDriver<Hook>(exec, stream);
  if (result == CUDA_SUCCESS && runtime.enforcing() &&
      runtime.graph_memory().AnyExecHoldsMemory()) {
    runtime.graph_memory().Launched(runtime.ledger(), Handle(exec));
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
    runtime.graph_memory().GraphDestroyed(runtime.ledger(), hooks::Handle(graph));
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
    runtime.graph_memory().ExecDestroyed(runtime.ledger(), hooks::Handle(exec));
  }
  return result;
}

GPUSLICE_HOOK CUresult cuGraphLaunch(CUgraphExec exec, CUstream stream) {
  return hooks::LaunchGraph<cuGraphLaunch>(exec, stream);
}

GPUSLICE_HOOK CUresult cuGraphLaunch_ptsz(CUgraphExec exec, CUstream stream) {
  return hooks::LaunchGraph<cuGraphLaunch_ptsz>(exec, stream);
}

GPUSLICE_HOOK CUresult cuDeviceGraphMemTrim(CUdevice device) {
  hooks::Runtime& runtime = hooks::Runtime::Get();
  const CUresult result = hooks::internal::CallDriver<cuDeviceGraphMemTrim>(device);
  if (result == CUDA_SUCCESS && runtime.SliceOfDevice(device) >= 0) {
    runtime.graph_memory().Trimmed(runtime.ledger(), device);
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
