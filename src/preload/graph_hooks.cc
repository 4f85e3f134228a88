// Hooks of graph memory nodes. Their memory is charged when the node is added (the graph
// owns the address from then on) and given back by cuMemFree of the address or when the
// graph is destroyed.
#include "core/abi/cuda.h"
#include "preload/hooks.h"
#include "preload/internal/hook_support.h"

namespace gpuslice::preload {
namespace {

using internal::CallDriver;
using internal::PendingCharge;
using internal::Refusal;
using internal::ToCuResult;

int SliceOfPool(Runtime& runtime, const CUmemPoolProps& pool) {
  return pool.location.type == CU_MEM_LOCATION_TYPE_DEVICE ? runtime.SliceOfDevice(pool.location.id)
                                                           : -1;
}

// Charges an allocation node of `bytes` from `pool`, adds it with `add`, and records the
// address the driver fixed for it in `*dptr`.
template <typename Add>
CUresult AddAllocationNode(CUgraph graph, const CUmemPoolProps& pool, size_t bytes,
                           const CUdeviceptr* dptr, Add add) {
  Runtime& runtime = Runtime::Get();
  PendingCharge charge(runtime, SliceOfPool(runtime, pool), bytes);
  if (!charge.fits()) return ToCuResult(Refusal::kOverLimit);
  const CUresult result = add();
  if (result == CUDA_SUCCESS) {
    charge.Commit(AllocationKind::kDevicePointer, *dptr, reinterpret_cast<uint64_t>(graph));
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
                           &params->alloc.dptr, [&] { return CallDriver<Hook>(args...); });
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
  return hooks::AddAllocationNode(graph, params->poolProps, params->bytesize, &params->dptr, add);
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
    for (const hooks::Allocation& allocation :
         runtime.allocations().TakeOwnedBy(reinterpret_cast<uint64_t>(graph))) {
      runtime.ledger().Refund(allocation.device, allocation.bytes);
    }
  }
  return result;
}
