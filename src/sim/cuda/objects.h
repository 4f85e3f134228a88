// The objects behind the simulated driver's handles. A CUDA handle is a pointer to one of
// these (CUcontext is CUctx_st*, and so on); each kind has a Registry in the Driver so stale
// handles are recognized. Fields that several threads touch are atomics or guarded by the
// object's mutex, as noted.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "core/abi/cuda.h"

namespace gpuslice::sim::cuda {

// What a loaded image declares. Images whose symbols cannot be read (cubins, fatbins) are
// opaque: any kernel or global name resolves in them.
struct ModuleImage {
  bool opaque = true;
  std::set<std::string> kernels;
  std::map<std::string, size_t> globals;  // name -> bytes
};

// A stream capture in progress (cuStreamBeginCapture .. cuStreamEndCapture).
struct Capture {
  CUgraph graph = nullptr;
  CUstreamCaptureStatus status = CU_STREAM_CAPTURE_STATUS_NONE;
  CUstreamCaptureMode mode = CU_STREAM_CAPTURE_MODE_GLOBAL;
  uint64_t id = 0;
  std::vector<CUgraphNode> dependencies;  // what the next captured operation depends on
};

// The memory behind one graph memory-allocation node. Its address is fixed when the node is
// created; the memory exists (and counts on the GPU) from the launch that allocates it until
// a free node, cuMemFree or cuMemFreeAsync frees it.
struct GraphAllocation {
  uintptr_t address = 0;
  size_t bytes = 0;
  int gpu = 0;
  int device = 0;
  bool resident = false;  // guarded by the driver's graph-memory mutex
};

}  // namespace gpuslice::sim::cuda

struct CUctx_st {
  int device = 0;  // ordinal as this process sees it
  int gpu = 0;     // index on the simulated node
  unsigned int flags = 0;
  bool primary = false;
  uint64_t id = 0;
  // When the last work queued in this context ends (CLOCK_MONOTONIC ns).
  std::atomic<uint64_t> tail_ns{0};
  std::unique_ptr<CUstream_st> legacy_stream;  // the NULL stream
  std::mutex mutex;                            // guards the fields below
  size_t limits[CU_LIMIT_MAX] = {};
  // Device memory reserved for limits raised past their defaults (stack, heap, printf FIFO,
  // device launches), counted on the GPU beyond the context's own memory.
  uint64_t limit_bytes = 0;
  CUfunc_cache cache_config = CU_FUNC_CACHE_PREFER_NONE;
};

struct CUstream_st {
  CUctx_st* ctx = nullptr;
  unsigned int flags = 0;
  int priority = 0;
  uint64_t id = 0;
  bool implicit = false;  // the legacy or a per-thread default stream
  std::atomic<uint64_t> tail_ns{0};
  std::mutex mutex;  // guards capture
  gpuslice::sim::cuda::Capture capture;
};

struct CUevent_st {
  CUctx_st* ctx = nullptr;
  unsigned int flags = 0;
  std::atomic<bool> recorded{false};
  std::atomic<uint64_t> time_ns{0};  // when the work before the record ends
};

struct CUfunc_st {
  CUmod_st* module = nullptr;
  std::string name;
  std::atomic<int> max_dynamic_shared{48 * 1024};
  std::atomic<int> shared_carveout{-1};
  std::atomic<int> cache_config{CU_FUNC_CACHE_PREFER_NONE};
};

struct CUmod_st {
  CUctx_st* ctx = nullptr;
  CUlib_st* library = nullptr;  // set when the library loaded it
  std::shared_ptr<const gpuslice::sim::cuda::ModuleImage> image;
  std::mutex mutex;  // guards the fields below
  std::map<std::string, std::unique_ptr<CUfunc_st>> functions;
  std::map<std::string, std::pair<CUdeviceptr, size_t>> globals;
  // The device memory its code and data took in ctx once loaded there (0 until then).
  uint64_t device_bytes = 0;
  bool loaded = false;
};

struct CUkern_st {
  CUlib_st* library = nullptr;
  std::string name;
  std::atomic<int> max_dynamic_shared{48 * 1024};
};

struct CUlib_st {
  std::shared_ptr<const gpuslice::sim::cuda::ModuleImage> image;
  std::mutex mutex;  // guards the maps
  std::map<std::string, std::unique_ptr<CUkern_st>> kernels;
  std::map<CUctx_st*, CUmod_st*> modules;  // loaded into each context on first use
};

struct CUlinkState_st {
  std::vector<std::string> inputs;
  std::string output;
};

struct CUarray_st {
  CUctx_st* ctx = nullptr;
  int gpu = 0;
  CUDA_ARRAY3D_DESCRIPTOR descriptor{};
  size_t element_bytes = 0;
  size_t bytes = 0;
  unsigned char* data = nullptr;
  CUmipmappedArray_st* parent = nullptr;  // a level of this mipmapped array
};

struct CUmipmappedArray_st {
  CUctx_st* ctx = nullptr;
  int gpu = 0;
  CUDA_ARRAY3D_DESCRIPTOR descriptor{};
  size_t bytes = 0;
  unsigned char* data = nullptr;
  std::vector<std::unique_ptr<CUarray_st>> levels;
};

struct CUmemPoolHandle_st {
  // A destroyed pool lives on, unreachable, until its blocks still in use are freed.
  enum class Life { kLive, kDestroying, kOrphaned };

  int gpu = 0;
  int device = 0;
  bool is_default = false;
  CUmemPoolProps props{};
  std::mutex mutex;  // guards the fields below
  Life life = Life::kLive;
  uint64_t release_threshold = 0;
  uint64_t reserved = 0;
  uint64_t reserved_high = 0;
  uint64_t used = 0;
  uint64_t used_high = 0;
  // CU_MEMPOOL_ATTR_REUSE_ALLOW_OPPORTUNISTIC: a block freed on one stream may serve another
  // stream once the free has happened on the GPU.
  bool opportunistic_reuse = true;
  // A block kept for reuse: freed on stream `stream` (0: freed synchronously, reusable
  // anywhere), its free done on the GPU at `ready_ns` (CLOCK_MONOTONIC).
  struct FreeBlock {
    uintptr_t address = 0;
    uint64_t stream = 0;
    uint64_t ready_ns = 0;
  };
  std::multimap<size_t, FreeBlock> free_blocks;  // size -> block, memory kept for reuse
  std::map<uintptr_t, size_t> blocks;            // every block the pool holds
};

struct CUgraphNode_st {
  CUgraph_st* graph = nullptr;
  CUgraphNodeType type = CU_GRAPH_NODE_TYPE_EMPTY;
  std::vector<CUgraphNode_st*> dependencies;
  CUDA_KERNEL_NODE_PARAMS kernel{};
  CUDA_MEMSET_NODE_PARAMS memset{};
  CUDA_MEMCPY3D memcpy{};
  CUDA_HOST_NODE_PARAMS host{};
  CUDA_MEM_ALLOC_NODE_PARAMS alloc{};
  std::shared_ptr<gpuslice::sim::cuda::GraphAllocation> allocation;  // alloc nodes
  CUdeviceptr free_address = 0;                                      // free nodes
  std::unique_ptr<CUgraph_st> child;                                 // child-graph nodes
  CUevent event = nullptr;                                           // event nodes
};

struct CUgraph_st {
  std::mutex mutex;  // guards nodes
  std::vector<std::unique_ptr<CUgraphNode_st>> nodes;
};

struct CUgraphExec_st {
  std::unique_ptr<CUgraph_st> graph;   // a snapshot of the graph at instantiation
  std::vector<CUgraphNode_st*> order;  // its nodes in an order that respects dependencies
  unsigned long long flags = 0;
  CUctx_st* ctx = nullptr;
};
