// Graphs: built node by node or captured from a stream, instantiated into an executable
// snapshot, and launched onto a stream. A launch queues each kernel node on the GPU timeline
// (so graphs occupy the GPU like the same kernels launched one by one), performs copies and
// memsets, and allocates and frees graph memory, which counts on the GPU while allocated.
#include <algorithm>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <queue>
#include <vector>

#include "sim/cuda/copy_ops.h"
#include "sim/cuda/driver.h"
#include "sim/cuda/graph_ops.h"
#include "sim/cuda/module_ops.h"
#include "sim/cuda/resources.h"
#include "sim/internal/clock.h"

namespace gpuslice::sim::cuda {
namespace {

std::unique_ptr<CUgraph_st> Clone(const CUgraph_st& source) {
  auto clone = std::make_unique<CUgraph_st>();
  std::map<const CUgraphNode_st*, CUgraphNode_st*> copies;
  for (const auto& node : source.nodes) {
    auto copy = std::make_unique<CUgraphNode_st>();
    copy->graph = clone.get();
    copy->type = node->type;
    copy->kernel = node->kernel;
    copy->memset = node->memset;
    copy->memcpy = node->memcpy;
    copy->host = node->host;
    copy->alloc = node->alloc;
    copy->allocation = node->allocation;
    copy->free_address = node->free_address;
    copy->event = node->event;
    if (node->child != nullptr) copy->child = Clone(*node->child);
    copies[node.get()] = copy.get();
    clone->nodes.push_back(std::move(copy));
  }
  for (size_t i = 0; i < source.nodes.size(); ++i) {
    for (const CUgraphNode_st* dependency : source.nodes[i]->dependencies) {
      clone->nodes[i]->dependencies.push_back(copies.at(dependency));
    }
  }
  return clone;
}

// Nodes in an order where each comes after its dependencies; false for a cycle.
bool Order(const CUgraph_st& graph, std::vector<CUgraphNode_st*>* order) {
  std::map<const CUgraphNode_st*, size_t> pending;
  std::map<const CUgraphNode_st*, std::vector<CUgraphNode_st*>> dependents;
  std::queue<CUgraphNode_st*> ready;
  for (const auto& node : graph.nodes) {
    pending[node.get()] = node->dependencies.size();
    for (const CUgraphNode_st* dependency : node->dependencies) {
      dependents[dependency].push_back(node.get());
    }
    if (node->dependencies.empty()) ready.push(node.get());
  }
  while (!ready.empty()) {
    CUgraphNode_st* node = ready.front();
    ready.pop();
    order->push_back(node);
    for (CUgraphNode_st* dependent : dependents[node]) {
      if (--pending[dependent] == 0) ready.push(dependent);
    }
  }
  return order->size() == graph.nodes.size();
}

void Unregister(Driver& driver, CUgraph_st* graph,
                std::vector<std::shared_ptr<GraphAllocation>>* allocations) {
  for (const auto& node : graph->nodes) {
    driver.graph_nodes.Remove(node.get());
    if (node->allocation != nullptr) allocations->push_back(node->allocation);
    if (node->child != nullptr) Unregister(driver, node->child.get(), allocations);
  }
}

// Deletes a graph (or an executable graph's snapshot) and the address ranges only it held.
void DeleteGraph(Driver& driver, std::unique_ptr<CUgraph_st> graph) {
  std::vector<std::shared_ptr<GraphAllocation>> allocations;
  Unregister(driver, graph.get(), &allocations);
  graph.reset();
  for (const auto& allocation : allocations) ForgetGraphAllocation(driver, allocation);
}

CUresult Execute(Driver& driver, const std::vector<CUgraphNode_st*>& order, CUstream_st* stream,
                 bool auto_free) {
  for (CUgraphNode_st* node : order) {
    CUresult result = CUDA_SUCCESS;
    switch (node->type) {
      case CU_GRAPH_NODE_TYPE_KERNEL:
        result = driver.QueueKernels(stream, 1);
        break;
      case CU_GRAPH_NODE_TYPE_MEMSET: {
        const CUDA_MEMSET_NODE_PARAMS& m = node->memset;
        result = Memset2D(driver, m.dst, m.pitch, m.value, m.elementSize, m.width, m.height);
        break;
      }
      case CU_GRAPH_NODE_TYPE_MEMCPY:
        result = Copy3D(driver, node->memcpy);
        break;
      case CU_GRAPH_NODE_TYPE_HOST:
        internal::SleepUntil(stream->tail_ns.load(std::memory_order_acquire));
        node->host.fn(node->host.userData);
        break;
      case CU_GRAPH_NODE_TYPE_EVENT_RECORD:
        if (driver.events.Contains(node->event)) {
          node->event->time_ns.store(
              std::max(stream->tail_ns.load(std::memory_order_acquire), internal::MonotonicNs()));
          node->event->recorded.store(true);
        }
        break;
      case CU_GRAPH_NODE_TYPE_MEM_ALLOC: {
        if (node->allocation->resident) {
          if (!auto_free) return CUDA_ERROR_INVALID_VALUE;  // the last launch's memory is live
          UnmapGraphAllocation(driver, *node->allocation);
        }
        result = MapGraphAllocation(driver, *node->allocation);
        break;
      }
      case CU_GRAPH_NODE_TYPE_MEM_FREE: {
        std::shared_ptr<GraphAllocation> allocation;
        {
          std::lock_guard<std::mutex> lock(driver.graph_memory_mutex);
          auto it = driver.graph_allocations.find(node->free_address);
          if (it != driver.graph_allocations.end()) allocation = it->second;
        }
        if (allocation == nullptr) return CUDA_ERROR_INVALID_VALUE;
        UnmapGraphAllocation(driver, *allocation);
        break;
      }
      case CU_GRAPH_NODE_TYPE_GRAPH: {
        std::vector<CUgraphNode_st*> child_order;
        Order(*node->child, &child_order);
        result = Execute(driver, child_order, stream, auto_free);
        break;
      }
      default:
        break;  // empty and event-wait nodes: ordering only
    }
    if (result != CUDA_SUCCESS) return result;
  }
  return CUDA_SUCCESS;
}

CUresult AddNode(Driver& driver, CUgraph graph, const CUgraphNode* dependencies, size_t count,
                 std::unique_ptr<CUgraphNode_st> node, CUgraphNode* added) {
  if (!driver.graphs.Contains(graph)) return CUDA_ERROR_INVALID_VALUE;
  if (added == nullptr || (count > 0 && dependencies == nullptr)) return CUDA_ERROR_INVALID_VALUE;
  std::lock_guard<std::mutex> lock(graph->mutex);
  for (size_t i = 0; i < count; ++i) {
    if (!driver.graph_nodes.Contains(dependencies[i]) || dependencies[i]->graph != graph) {
      return CUDA_ERROR_INVALID_VALUE;
    }
    node->dependencies.push_back(dependencies[i]);
  }
  node->graph = graph;
  *added = node.get();
  driver.graph_nodes.Add(node.get());
  graph->nodes.push_back(std::move(node));
  return CUDA_SUCCESS;
}

CUresult KernelNode(Driver& driver, const CUDA_KERNEL_NODE_PARAMS& params,
                    std::unique_ptr<CUgraphNode_st>* node) {
  if (params.func == nullptr && params.kern == nullptr) return CUDA_ERROR_INVALID_VALUE;
  CUfunction function =
      params.func != nullptr ? params.func : reinterpret_cast<CUfunction>(params.kern);
  if (!driver.functions.Contains(function) &&
      !driver.kernels.Contains(reinterpret_cast<CUkern_st*>(function))) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  if (params.gridDimX == 0 || params.gridDimY == 0 || params.gridDimZ == 0 ||
      params.blockDimX == 0 || params.blockDimY == 0 || params.blockDimZ == 0 ||
      uint64_t{params.blockDimX} * params.blockDimY * params.blockDimZ > 1024) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  *node = std::make_unique<CUgraphNode_st>();
  (*node)->type = CU_GRAPH_NODE_TYPE_KERNEL;
  (*node)->kernel = params;
  (*node)->kernel.kernelParams = nullptr;  // not kept: the simulated kernels read no arguments
  (*node)->kernel.extra = nullptr;
  return CUDA_SUCCESS;
}

CUresult FreeNode(Driver& driver, CUdeviceptr address, std::unique_ptr<CUgraphNode_st>* node) {
  {
    std::lock_guard<std::mutex> lock(driver.graph_memory_mutex);
    if (driver.graph_allocations.count(address) == 0) return CUDA_ERROR_INVALID_VALUE;
  }
  *node = std::make_unique<CUgraphNode_st>();
  (*node)->type = CU_GRAPH_NODE_TYPE_MEM_FREE;
  (*node)->free_address = address;
  return CUDA_SUCCESS;
}

CUresult InstantiateGraph(Driver& driver, CUgraphExec* exec, CUgraph graph,
                          unsigned long long flags) {
  constexpr unsigned long long kKnown =
      CUDA_GRAPH_INSTANTIATE_FLAG_AUTO_FREE_ON_LAUNCH | CUDA_GRAPH_INSTANTIATE_FLAG_UPLOAD |
      CUDA_GRAPH_INSTANTIATE_FLAG_DEVICE_LAUNCH | CUDA_GRAPH_INSTANTIATE_FLAG_USE_NODE_PRIORITY;
  if (exec == nullptr || (flags & ~kKnown) != 0) return CUDA_ERROR_INVALID_VALUE;
  if (!driver.graphs.Contains(graph)) return CUDA_ERROR_INVALID_VALUE;
  auto created = std::make_unique<CUgraphExec_st>();
  {
    std::lock_guard<std::mutex> lock(graph->mutex);
    created->graph = Clone(*graph);
  }
  if (!Order(*created->graph, &created->order)) {
    DeleteGraph(driver, std::move(created->graph));
    return CUDA_ERROR_INVALID_VALUE;  // the dependencies form a cycle
  }
  created->flags = flags;
  created->ctx = driver.Current();
  driver.graph_execs.Add(created.get());
  *exec = created.release();
  return CUDA_SUCCESS;
}

}  // namespace

bool IsCapturing(CUstream_st* stream) {
  std::lock_guard<std::mutex> lock(stream->mutex);
  return stream->capture.status != CU_STREAM_CAPTURE_STATUS_NONE;
}

bool CaptureNode(Driver& driver, CUstream_st* stream, std::unique_ptr<CUgraphNode_st> node,
                 CUresult* result, CUgraphNode_st** added) {
  std::lock_guard<std::mutex> lock(stream->mutex);
  Capture& capture = stream->capture;
  if (capture.status == CU_STREAM_CAPTURE_STATUS_NONE) return false;
  if (capture.status == CU_STREAM_CAPTURE_STATUS_INVALIDATED) {
    *result = CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
    return true;
  }
  CUgraph_st* graph = capture.graph;
  std::lock_guard<std::mutex> graph_lock(graph->mutex);
  node->graph = graph;
  node->dependencies = capture.dependencies;
  CUgraphNode_st* raw = node.get();
  driver.graph_nodes.Add(raw);
  graph->nodes.push_back(std::move(node));
  capture.dependencies = {raw};
  if (added != nullptr) *added = raw;
  *result = CUDA_SUCCESS;
  return true;
}

CUresult RejectWhileCapturing(CUstream_st* stream) {
  std::lock_guard<std::mutex> lock(stream->mutex);
  if (stream->capture.status == CU_STREAM_CAPTURE_STATUS_NONE) return CUDA_SUCCESS;
  stream->capture.status = CU_STREAM_CAPTURE_STATUS_INVALIDATED;
  return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
}

CUresult MakeAllocNode(Driver& driver, CUdevice device, size_t bytes,
                       std::unique_ptr<CUgraphNode_st>* node) {
  if (bytes == 0) return CUDA_ERROR_INVALID_VALUE;
  std::shared_ptr<GraphAllocation> allocation =
      ReserveGraphAllocation(driver, driver.GpuOf(device), device, bytes);
  if (allocation == nullptr) return CUDA_ERROR_OUT_OF_MEMORY;
  *node = std::make_unique<CUgraphNode_st>();
  (*node)->type = CU_GRAPH_NODE_TYPE_MEM_ALLOC;
  (*node)->allocation = allocation;
  (*node)->alloc.poolProps.allocType = CU_MEM_ALLOCATION_TYPE_PINNED;
  (*node)->alloc.poolProps.location = {CU_MEM_LOCATION_TYPE_DEVICE, device};
  (*node)->alloc.bytesize = bytes;
  (*node)->alloc.dptr = allocation->address;
  return CUDA_SUCCESS;
}

}  // namespace gpuslice::sim::cuda

namespace {

using gpuslice::sim::cuda::Api;
using gpuslice::sim::cuda::Driver;

CUresult AddMade(CUgraphNode* phGraphNode, CUgraph hGraph, const CUgraphNode* dependencies,
                 size_t numDependencies,
                 const std::function<CUresult(Driver&, std::unique_ptr<CUgraphNode_st>*)>& make) {
  return Api([&](Driver& driver) {
    std::unique_ptr<CUgraphNode_st> node;
    const CUresult made = make(driver, &node);
    if (made != CUDA_SUCCESS) return made;
    return gpuslice::sim::cuda::AddNode(driver, hGraph, dependencies, numDependencies,
                                        std::move(node), phGraphNode);
  });
}

// The context a node's operation runs in: the one given, else the current one.
CUresult NodeContext(Driver& driver, CUcontext given, CUctx_st** ctx) {
  if (given != nullptr) {
    if (driver.CheckContext(given) != CUDA_SUCCESS) return CUDA_ERROR_INVALID_CONTEXT;
    *ctx = given;
    return CUDA_SUCCESS;
  }
  return driver.RequireCurrent(ctx);
}

CUresult LaunchGraph(CUgraphExec hGraphExec, CUstream hStream, bool per_thread) {
  return Api([&](Driver& driver) {
    if (!driver.graph_execs.Contains(hGraphExec)) return CUDA_ERROR_INVALID_VALUE;
    CUstream_st* stream = nullptr;
    const CUresult resolved = driver.ResolveStream(hStream, per_thread, &stream);
    if (resolved != CUDA_SUCCESS) return resolved;
    auto node = std::make_unique<CUgraphNode_st>();
    node->type = CU_GRAPH_NODE_TYPE_GRAPH;
    node->child = gpuslice::sim::cuda::Clone(*hGraphExec->graph);
    CUresult captured = CUDA_SUCCESS;
    if (gpuslice::sim::cuda::CaptureNode(driver, stream, std::move(node), &captured)) {
      return captured;
    }
    return gpuslice::sim::cuda::Execute(
        driver, hGraphExec->order, stream,
        (hGraphExec->flags & CUDA_GRAPH_INSTANTIATE_FLAG_AUTO_FREE_ON_LAUNCH) != 0);
  });
}

CUresult Upload(CUgraphExec hGraphExec, CUstream hStream, bool per_thread) {
  return Api([&](Driver& driver) {
    if (!driver.graph_execs.Contains(hGraphExec)) return CUDA_ERROR_INVALID_VALUE;
    CUstream_st* stream = nullptr;
    return driver.ResolveStream(hStream, per_thread, &stream);  // nothing to upload
  });
}

CUresult InstantiateWithParams(CUgraphExec* phGraphExec, CUgraph hGraph,
                               CUDA_GRAPH_INSTANTIATE_PARAMS* params) {
  return Api([&](Driver& driver) {
    if (params == nullptr) return CUDA_ERROR_INVALID_VALUE;
    const CUresult result =
        gpuslice::sim::cuda::InstantiateGraph(driver, phGraphExec, hGraph, params->flags);
    params->hErrNode_out = nullptr;
    params->result_out = result == CUDA_SUCCESS ? CUDA_GRAPH_INSTANTIATE_SUCCESS
                                                : CUDA_GRAPH_INSTANTIATE_INVALID_STRUCTURE;
    return result;
  });
}

}  // namespace

GPUSLICE_CUDA_EXPORT CUresult cuGraphCreate(CUgraph* phGraph, unsigned int flags) {
  return Api([&](Driver& driver) {
    if (phGraph == nullptr || flags != 0) return CUDA_ERROR_INVALID_VALUE;
    auto* graph = new CUgraph_st();
    driver.graphs.Add(graph);
    *phGraph = graph;
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuGraphDestroy(CUgraph hGraph) {
  return Api([&](Driver& driver) {
    if (!driver.graphs.Remove(hGraph)) return CUDA_ERROR_INVALID_VALUE;
    gpuslice::sim::cuda::DeleteGraph(driver, std::unique_ptr<CUgraph_st>(hGraph));
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuGraphAddKernelNode_v2(CUgraphNode* phGraphNode, CUgraph hGraph,
                                                      const CUgraphNode* dependencies,
                                                      size_t numDependencies,
                                                      const CUDA_KERNEL_NODE_PARAMS* nodeParams) {
  return AddMade(phGraphNode, hGraph, dependencies, numDependencies,
                 [&](Driver& driver, std::unique_ptr<CUgraphNode_st>* node) {
                   if (nodeParams == nullptr) return CUDA_ERROR_INVALID_VALUE;
                   return gpuslice::sim::cuda::KernelNode(driver, *nodeParams, node);
                 });
}

GPUSLICE_CUDA_EXPORT CUresult cuGraphAddMemsetNode(CUgraphNode* phGraphNode, CUgraph hGraph,
                                                   const CUgraphNode* dependencies,
                                                   size_t numDependencies,
                                                   const CUDA_MEMSET_NODE_PARAMS* memsetParams,
                                                   CUcontext ctx) {
  return AddMade(phGraphNode, hGraph, dependencies, numDependencies,
                 [&](Driver& driver, std::unique_ptr<CUgraphNode_st>* node) {
                   CUctx_st* context = nullptr;
                   const CUresult valid = NodeContext(driver, ctx, &context);
                   if (valid != CUDA_SUCCESS) return valid;
                   if (memsetParams == nullptr ||
                       (memsetParams->elementSize != 1 && memsetParams->elementSize != 2 &&
                        memsetParams->elementSize != 4)) {
                     return CUDA_ERROR_INVALID_VALUE;
                   }
                   *node = std::make_unique<CUgraphNode_st>();
                   (*node)->type = CU_GRAPH_NODE_TYPE_MEMSET;
                   (*node)->memset = *memsetParams;
                   return CUDA_SUCCESS;
                 });
}

GPUSLICE_CUDA_EXPORT CUresult cuGraphAddMemcpyNode(CUgraphNode* phGraphNode, CUgraph hGraph,
                                                   const CUgraphNode* dependencies,
                                                   size_t numDependencies,
                                                   const CUDA_MEMCPY3D* copyParams, CUcontext ctx) {
  return AddMade(phGraphNode, hGraph, dependencies, numDependencies,
                 [&](Driver& driver, std::unique_ptr<CUgraphNode_st>* node) {
                   CUctx_st* context = nullptr;
                   const CUresult valid = NodeContext(driver, ctx, &context);
                   if (valid != CUDA_SUCCESS) return valid;
                   if (copyParams == nullptr) return CUDA_ERROR_INVALID_VALUE;
                   *node = std::make_unique<CUgraphNode_st>();
                   (*node)->type = CU_GRAPH_NODE_TYPE_MEMCPY;
                   (*node)->memcpy = *copyParams;
                   return CUDA_SUCCESS;
                 });
}

GPUSLICE_CUDA_EXPORT CUresult cuGraphAddEmptyNode(CUgraphNode* phGraphNode, CUgraph hGraph,
                                                  const CUgraphNode* dependencies,
                                                  size_t numDependencies) {
  return AddMade(phGraphNode, hGraph, dependencies, numDependencies,
                 [](Driver&, std::unique_ptr<CUgraphNode_st>* node) {
                   *node = std::make_unique<CUgraphNode_st>();
                   return CUDA_SUCCESS;
                 });
}

GPUSLICE_CUDA_EXPORT CUresult cuGraphAddHostNode(CUgraphNode* phGraphNode, CUgraph hGraph,
                                                 const CUgraphNode* dependencies,
                                                 size_t numDependencies,
                                                 const CUDA_HOST_NODE_PARAMS* nodeParams) {
  return AddMade(phGraphNode, hGraph, dependencies, numDependencies,
                 [&](Driver&, std::unique_ptr<CUgraphNode_st>* node) {
                   if (nodeParams == nullptr || nodeParams->fn == nullptr) {
                     return CUDA_ERROR_INVALID_VALUE;
                   }
                   *node = std::make_unique<CUgraphNode_st>();
                   (*node)->type = CU_GRAPH_NODE_TYPE_HOST;
                   (*node)->host = *nodeParams;
                   return CUDA_SUCCESS;
                 });
}

GPUSLICE_CUDA_EXPORT CUresult cuGraphAddMemAllocNode(CUgraphNode* phGraphNode, CUgraph hGraph,
                                                     const CUgraphNode* dependencies,
                                                     size_t numDependencies,
                                                     CUDA_MEM_ALLOC_NODE_PARAMS* nodeParams) {
  return AddMade(phGraphNode, hGraph, dependencies, numDependencies,
                 [&](Driver& driver, std::unique_ptr<CUgraphNode_st>* node) {
                   if (nodeParams == nullptr ||
                       nodeParams->poolProps.allocType != CU_MEM_ALLOCATION_TYPE_PINNED ||
                       nodeParams->poolProps.location.type != CU_MEM_LOCATION_TYPE_DEVICE) {
                     return CUDA_ERROR_INVALID_VALUE;
                   }
                   const CUdevice device = nodeParams->poolProps.location.id;
                   if (driver.CheckDevice(device) != CUDA_SUCCESS) return CUDA_ERROR_INVALID_DEVICE;
                   const CUresult made = gpuslice::sim::cuda::MakeAllocNode(
                       driver, device, nodeParams->bytesize, node);
                   if (made == CUDA_SUCCESS) nodeParams->dptr = (*node)->alloc.dptr;
                   return made;
                 });
}

GPUSLICE_CUDA_EXPORT CUresult cuGraphAddMemFreeNode(CUgraphNode* phGraphNode, CUgraph hGraph,
                                                    const CUgraphNode* dependencies,
                                                    size_t numDependencies, CUdeviceptr dptr) {
  return AddMade(phGraphNode, hGraph, dependencies, numDependencies,
                 [&](Driver& driver, std::unique_ptr<CUgraphNode_st>* node) {
                   return gpuslice::sim::cuda::FreeNode(driver, dptr, node);
                 });
}

GPUSLICE_CUDA_EXPORT CUresult cuGraphAddNode_v2(CUgraphNode* phGraphNode, CUgraph hGraph,
                                                const CUgraphNode* dependencies,
                                                const CUgraphEdgeData*, size_t numDependencies,
                                                CUgraphNodeParams* nodeParams) {
  if (nodeParams == nullptr) return CUDA_ERROR_INVALID_VALUE;
  switch (nodeParams->type) {
    case CU_GRAPH_NODE_TYPE_KERNEL: {
      CUDA_KERNEL_NODE_PARAMS params;
      static_assert(sizeof(params) == sizeof(nodeParams->kernel));
      std::memcpy(&params, &nodeParams->kernel, sizeof(params));
      return cuGraphAddKernelNode_v2(phGraphNode, hGraph, dependencies, numDependencies, &params);
    }
    case CU_GRAPH_NODE_TYPE_MEMCPY:
      return cuGraphAddMemcpyNode(phGraphNode, hGraph, dependencies, numDependencies,
                                  &nodeParams->memcpy.copyParams, nodeParams->memcpy.copyCtx);
    case CU_GRAPH_NODE_TYPE_MEMSET: {
      const CUDA_MEMSET_NODE_PARAMS_v2& m = nodeParams->memset;
      const CUDA_MEMSET_NODE_PARAMS params{m.dst,         m.pitch, m.value,
                                           m.elementSize, m.width, m.height};
      return cuGraphAddMemsetNode(phGraphNode, hGraph, dependencies, numDependencies, &params,
                                  m.ctx);
    }
    case CU_GRAPH_NODE_TYPE_HOST: {
      const CUDA_HOST_NODE_PARAMS params{nodeParams->host.fn, nodeParams->host.userData};
      return cuGraphAddHostNode(phGraphNode, hGraph, dependencies, numDependencies, &params);
    }
    case CU_GRAPH_NODE_TYPE_EMPTY:
      return cuGraphAddEmptyNode(phGraphNode, hGraph, dependencies, numDependencies);
    case CU_GRAPH_NODE_TYPE_MEM_ALLOC: {
      CUDA_MEM_ALLOC_NODE_PARAMS params;
      static_assert(sizeof(params) == sizeof(nodeParams->alloc));
      std::memcpy(&params, &nodeParams->alloc, sizeof(params));
      const CUresult result =
          cuGraphAddMemAllocNode(phGraphNode, hGraph, dependencies, numDependencies, &params);
      nodeParams->alloc.dptr = params.dptr;
      return result;
    }
    case CU_GRAPH_NODE_TYPE_MEM_FREE:
      return cuGraphAddMemFreeNode(phGraphNode, hGraph, dependencies, numDependencies,
                                   nodeParams->free.dptr);
    case CU_GRAPH_NODE_TYPE_GRAPH:
      return AddMade(phGraphNode, hGraph, dependencies, numDependencies,
                     [&](Driver& driver, std::unique_ptr<CUgraphNode_st>* node) {
                       CUgraph child = nodeParams->graph.graph;
                       if (!driver.graphs.Contains(child) || child == hGraph) {
                         return CUDA_ERROR_INVALID_VALUE;
                       }
                       *node = std::make_unique<CUgraphNode_st>();
                       (*node)->type = CU_GRAPH_NODE_TYPE_GRAPH;
                       std::lock_guard<std::mutex> lock(child->mutex);
                       (*node)->child = gpuslice::sim::cuda::Clone(*child);
                       return CUDA_SUCCESS;
                     });
    case CU_GRAPH_NODE_TYPE_EVENT_RECORD:
    case CU_GRAPH_NODE_TYPE_WAIT_EVENT:
      return AddMade(phGraphNode, hGraph, dependencies, numDependencies,
                     [&](Driver& driver, std::unique_ptr<CUgraphNode_st>* node) {
                       CUevent event = nodeParams->type == CU_GRAPH_NODE_TYPE_EVENT_RECORD
                                           ? nodeParams->eventRecord.event
                                           : nodeParams->eventWait.event;
                       if (!driver.events.Contains(event)) return CUDA_ERROR_INVALID_VALUE;
                       *node = std::make_unique<CUgraphNode_st>();
                       (*node)->type = nodeParams->type;
                       (*node)->event = event;
                       return CUDA_SUCCESS;
                     });
    default:
      return CUDA_ERROR_NOT_SUPPORTED;  // semaphores, batch memory ops, conditionals
  }
}

GPUSLICE_CUDA_EXPORT CUresult cuGraphAddDependencies_v2(CUgraph hGraph, const CUgraphNode* from,
                                                        const CUgraphNode* to,
                                                        const CUgraphEdgeData*,
                                                        size_t numDependencies) {
  return Api([&](Driver& driver) {
    if (!driver.graphs.Contains(hGraph) ||
        (numDependencies > 0 && (from == nullptr || to == nullptr))) {
      return CUDA_ERROR_INVALID_VALUE;
    }
    std::lock_guard<std::mutex> lock(hGraph->mutex);
    for (size_t i = 0; i < numDependencies; ++i) {
      if (!driver.graph_nodes.Contains(from[i]) || !driver.graph_nodes.Contains(to[i]) ||
          from[i]->graph != hGraph || to[i]->graph != hGraph || from[i] == to[i]) {
        return CUDA_ERROR_INVALID_VALUE;
      }
    }
    for (size_t i = 0; i < numDependencies; ++i) to[i]->dependencies.push_back(from[i]);
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuGraphGetNodes(CUgraph hGraph, CUgraphNode* nodes,
                                              size_t* numNodes) {
  return Api([&](Driver& driver) {
    if (!driver.graphs.Contains(hGraph) || numNodes == nullptr) return CUDA_ERROR_INVALID_VALUE;
    std::lock_guard<std::mutex> lock(hGraph->mutex);
    if (nodes != nullptr) {
      const size_t count = std::min(*numNodes, hGraph->nodes.size());
      for (size_t i = 0; i < count; ++i) nodes[i] = hGraph->nodes[i].get();
      for (size_t i = count; i < *numNodes; ++i) nodes[i] = nullptr;
    }
    *numNodes = hGraph->nodes.size();
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuGraphNodeGetType(CUgraphNode hNode, CUgraphNodeType* type) {
  return Api([&](Driver& driver) {
    if (!driver.graph_nodes.Contains(hNode) || type == nullptr) return CUDA_ERROR_INVALID_VALUE;
    *type = hNode->type;
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuGraphKernelNodeGetParams_v2(CUgraphNode hNode,
                                                            CUDA_KERNEL_NODE_PARAMS* nodeParams) {
  return Api([&](Driver& driver) {
    if (!driver.graph_nodes.Contains(hNode) || nodeParams == nullptr ||
        hNode->type != CU_GRAPH_NODE_TYPE_KERNEL) {
      return CUDA_ERROR_INVALID_VALUE;
    }
    *nodeParams = hNode->kernel;
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuGraphMemAllocNodeGetParams(CUgraphNode hNode,
                                                           CUDA_MEM_ALLOC_NODE_PARAMS* params_out) {
  return Api([&](Driver& driver) {
    if (!driver.graph_nodes.Contains(hNode) || params_out == nullptr ||
        hNode->type != CU_GRAPH_NODE_TYPE_MEM_ALLOC) {
      return CUDA_ERROR_INVALID_VALUE;
    }
    *params_out = hNode->alloc;
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuGraphMemFreeNodeGetParams(CUgraphNode hNode,
                                                          CUdeviceptr* dptr_out) {
  return Api([&](Driver& driver) {
    if (!driver.graph_nodes.Contains(hNode) || dptr_out == nullptr ||
        hNode->type != CU_GRAPH_NODE_TYPE_MEM_FREE) {
      return CUDA_ERROR_INVALID_VALUE;
    }
    *dptr_out = hNode->free_address;
    return CUDA_SUCCESS;
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuGraphInstantiateWithFlags(CUgraphExec* phGraphExec, CUgraph hGraph,
                                                          unsigned long long flags) {
  return Api([&](Driver& driver) {
    return gpuslice::sim::cuda::InstantiateGraph(driver, phGraphExec, hGraph, flags);
  });
}

GPUSLICE_CUDA_EXPORT CUresult cuGraphInstantiateWithParams(CUgraphExec* phGraphExec, CUgraph hGraph,
                                                           CUDA_GRAPH_INSTANTIATE_PARAMS* params) {
  return InstantiateWithParams(phGraphExec, hGraph, params);
}

GPUSLICE_CUDA_EXPORT CUresult cuGraphInstantiateWithParams_ptsz(
    CUgraphExec* phGraphExec, CUgraph hGraph, CUDA_GRAPH_INSTANTIATE_PARAMS* params) {
  return InstantiateWithParams(phGraphExec, hGraph, params);
}

GPUSLICE_CUDA_EXPORT CUresult cuGraphLaunch(CUgraphExec hGraphExec, CUstream hStream) {
  return LaunchGraph(hGraphExec, hStream, false);
}

GPUSLICE_CUDA_EXPORT CUresult cuGraphLaunch_ptsz(CUgraphExec hGraphExec, CUstream hStream) {
  return LaunchGraph(hGraphExec, hStream, true);
}

GPUSLICE_CUDA_EXPORT CUresult cuGraphUpload(CUgraphExec hGraphExec, CUstream hStream) {
  return Upload(hGraphExec, hStream, false);
}

GPUSLICE_CUDA_EXPORT CUresult cuGraphUpload_ptsz(CUgraphExec hGraphExec, CUstream hStream) {
  return Upload(hGraphExec, hStream, true);
}

GPUSLICE_CUDA_EXPORT CUresult cuGraphExecDestroy(CUgraphExec hGraphExec) {
  return Api([&](Driver& driver) {
    if (!driver.graph_execs.Remove(hGraphExec)) return CUDA_ERROR_INVALID_VALUE;
    std::unique_ptr<CUgraphExec_st> exec(hGraphExec);
    gpuslice::sim::cuda::DeleteGraph(driver, std::move(exec->graph));
    return CUDA_SUCCESS;
  });
}
