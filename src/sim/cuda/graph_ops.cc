// Graph internals: cloning and ordering graphs, executing them on a stream, adding nodes,
// and stream capture, which turns operations on a capturing stream into graph nodes.
#include "sim/cuda/graph_ops.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <queue>
#include <vector>

#include "sim/cuda/copy_ops.h"
#include "sim/cuda/resources.h"
#include "sim/internal/clock.h"

namespace gpuslice::sim::cuda {
namespace {

// Nodes in an order where each comes after its dependencies; false for a cycle.
bool Order(const CUgraph_st& graph, std::vector<CUgraphNode_st*>* order);

void Unregister(Driver& driver, CUgraph_st* graph,
                std::vector<std::shared_ptr<GraphAllocation>>* allocations);

}  // namespace

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

namespace {

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

}  // namespace

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
        result = GrowStackForLaunch(driver, stream->ctx);
        if (result == CUDA_SUCCESS) result = driver.QueueKernels(stream, 1);
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
