// Graph entry points: graphs built node by node or captured from a stream, instantiated into
// an executable snapshot and launched onto a stream. A launch queues each kernel node on the
// GPU timeline (so a graph occupies the GPU like the same kernels launched one by one),
// performs copies and memsets, and allocates and frees graph memory, which counts on the GPU
// while allocated.
#include <cstring>
#include <functional>
#include <memory>

#include "sim/cuda/driver.h"
#include "sim/cuda/graph_ops.h"

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

// The CUDA 10 and 11 signature: no flags; a node and a log to explain a failure.
CUresult InstantiateLegacy(CUgraphExec* phGraphExec, CUgraph hGraph, CUgraphNode* phErrorNode,
                           char* logBuffer, size_t bufferSize) {
  return Api([&](Driver& driver) {
    if (phErrorNode != nullptr) *phErrorNode = nullptr;
    if (logBuffer != nullptr && bufferSize > 0) logBuffer[0] = '\0';
    return gpuslice::sim::cuda::InstantiateGraph(driver, phGraphExec, hGraph, 0);
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
      // A child graph is cloned into the node, which a graph with memory nodes cannot be; or
      // moved into it (CU_GRAPH_CHILD_GRAPH_OWNERSHIP_MOVE), its handle then no longer the
      // caller's to use or destroy.
      return AddMade(
          phGraphNode, hGraph, dependencies, numDependencies,
          [&](Driver& driver, std::unique_ptr<CUgraphNode_st>* node) {
            CUgraph child = nodeParams->graph.graph;
            if (!driver.graphs.Contains(child) || child == hGraph) {
              return CUDA_ERROR_INVALID_VALUE;
            }
            const bool move = nodeParams->graph.ownership == CU_GRAPH_CHILD_GRAPH_OWNERSHIP_MOVE;
            if (!move && nodeParams->graph.ownership != CU_GRAPH_CHILD_GRAPH_OWNERSHIP_CLONE) {
              return CUDA_ERROR_INVALID_VALUE;
            }
            *node = std::make_unique<CUgraphNode_st>();
            (*node)->type = CU_GRAPH_NODE_TYPE_GRAPH;
            if (move) {
              if (!driver.graphs.Remove(child)) return CUDA_ERROR_INVALID_VALUE;
              (*node)->child.reset(child);
              return CUDA_SUCCESS;
            }
            std::lock_guard<std::mutex> lock(child->mutex);
            for (const auto& inner : child->nodes) {
              if (inner->type == CU_GRAPH_NODE_TYPE_MEM_ALLOC ||
                  inner->type == CU_GRAPH_NODE_TYPE_MEM_FREE) {
                return CUDA_ERROR_NOT_SUPPORTED;
              }
            }
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

GPUSLICE_CUDA_EXPORT CUresult cuGraphInstantiate(CUgraphExec* phGraphExec, CUgraph hGraph,
                                                 CUgraphNode* phErrorNode, char* logBuffer,
                                                 size_t bufferSize) {
  return InstantiateLegacy(phGraphExec, hGraph, phErrorNode, logBuffer, bufferSize);
}

GPUSLICE_CUDA_EXPORT CUresult cuGraphInstantiate_v2(CUgraphExec* phGraphExec, CUgraph hGraph,
                                                    CUgraphNode* phErrorNode, char* logBuffer,
                                                    size_t bufferSize) {
  return InstantiateLegacy(phGraphExec, hGraph, phErrorNode, logBuffer, bufferSize);
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
