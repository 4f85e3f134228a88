// The process-wide state of the simulated CUDA driver (libgpuslice-sim-cuda.so): the node it
// simulates, the devices this process may see, the handles it gave out, its memory, and each
// thread's context stack. Every entry point goes through Api(), which checks cuInit ran and
// turns C++ failures into CUresult codes (nothing throws across the C boundary).
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "core/abi/cuda.h"
#include "sim/cuda/memory_map.h"
#include "sim/cuda/objects.h"
#include "sim/cuda/registry.h"
#include "sim/process_account.h"
#include "sim/spec.h"
#include "sim/state.h"

#define GPUSLICE_CUDA_EXPORT extern "C" __attribute__((visibility("default")))

namespace gpuslice::sim::cuda {

// Thread-safe; one per process, never destroyed (handles and memory outlive static
// destructors, as they do with the real driver).
class Driver {
 public:
  static Driver& Get();

  // cuInit: opens the node's state, works out the visible devices and registers this
  // process. Idempotent. CUDA_ERROR_NO_DEVICE (with the reason on stderr, once) when the
  // simulation is not configured or shows this process no GPU.
  CUresult Init();
  // CUDA_SUCCESS once cuInit succeeded in this process (not in a child forked after it).
  CUresult CheckInitialized() const;

  int device_count() const { return static_cast<int>(visible_.size()); }
  // CUDA_MODULE_LOADING=EAGER at cuInit: modules take their device memory when they load,
  // not when first used (lazy loading, the default).
  bool eager_module_loading() const { return eager_module_loading_; }
  // CUDA_ERROR_INVALID_DEVICE unless 0 <= device < device_count().
  CUresult CheckDevice(CUdevice device) const;
  // REQUIRES: CheckDevice(device) == CUDA_SUCCESS.
  int GpuOf(CUdevice device) const { return visible_[static_cast<size_t>(device)]; }
  const GpuSpec& Spec(int gpu) const { return state_->gpu(gpu); }
  bool IsLost(int gpu) const { return state_->IsLost(gpu); }
  SimState& state() const { return *state_; }
  ProcessAccount& account() const { return *account_; }

  // Contexts. The current context is the top of the calling thread's stack.
  CUctx_st* Current() const;
  void SetCurrent(CUctx_st* ctx);
  void Push(CUctx_st* ctx);
  CUctx_st* Pop();
  // CUDA_ERROR_INVALID_CONTEXT unless `ctx` is live (an active primary or a created context).
  CUresult CheckContext(CUctx_st* ctx) const;
  // The current context, or CUDA_ERROR_INVALID_CONTEXT when there is none.
  CUresult RequireCurrent(CUctx_st** ctx) const;

  // Creates a context on `device`, counting its memory. CUDA_ERROR_OUT_OF_MEMORY when the
  // GPU cannot hold the context.
  CUresult CreateContext(CUdevice device, unsigned int flags, bool primary, CUctx_st** ctx);
  // Frees everything the context owns and the context itself (unless primary).
  void DestroyContext(CUctx_st* ctx);

  // Primary contexts (one per device, reference counted).
  CUresult RetainPrimary(CUdevice device, CUctx_st** ctx);
  CUresult ReleasePrimary(CUdevice device);
  CUresult ResetPrimary(CUdevice device);
  CUresult SetPrimaryFlags(CUdevice device, unsigned int flags);
  CUresult PrimaryState(CUdevice device, unsigned int* flags, int* active);

  // Resolves a stream handle: NULL / CU_STREAM_LEGACY / CU_STREAM_PER_THREAD mean the current
  // context's implicit streams (`per_thread` says what NULL means, as the _ptsz entry points
  // do). CUDA_ERROR_INVALID_HANDLE for an unknown stream.
  CUresult ResolveStream(CUstream handle, bool per_thread, CUstream_st** stream);

  // Queues `kernels` kernel executions on the stream's GPU after the stream's earlier work,
  // blocking first while the stream has more than the GPU's launch queue depth pending.
  CUresult QueueKernels(CUstream_st* stream, int kernels);

  // Memory pools: each device's default pool and the pool cuMemAllocAsync uses.
  CUmemPoolHandle_st* DefaultPool(CUdevice device);
  CUmemPoolHandle_st* CurrentPool(CUdevice device);
  void SetCurrentPool(CUdevice device, CUmemPoolHandle_st* pool);

  uint64_t NextId() { return next_id_.fetch_add(1, std::memory_order_relaxed); }

  Registry<CUctx_st> contexts;
  Registry<CUstream_st> streams;
  Registry<CUevent_st> events;
  Registry<CUmod_st> modules;
  Registry<CUfunc_st> functions;
  Registry<CUlib_st> libraries;
  Registry<CUkern_st> kernels;
  Registry<CUlinkState_st> links;
  Registry<CUarray_st> arrays;
  Registry<CUmipmappedArray_st> mipmapped_arrays;
  Registry<CUmemPoolHandle_st> pools;
  Registry<CUgraph_st> graphs;
  Registry<CUgraphNode_st> graph_nodes;
  Registry<CUgraphExec_st> graph_execs;
  MemoryMap memory;
  // Guards graph_allocations, GraphAllocation::resident and the graph memory figures below.
  std::mutex graph_memory_mutex;
  // Every graph allocation whose address range is still reserved, by address.
  std::map<uintptr_t, std::shared_ptr<GraphAllocation>> graph_allocations;
  // Graph memory per node GPU, as cuDeviceGetGraphMemAttribute reports it: what graph
  // allocations hold now, and what the device's graph memory pool keeps (counted on the GPU):
  // freed graph memory stays reserved for later launches until cuDeviceGraphMemTrim.
  uint64_t graph_memory_used[kMaxGpus] = {};
  uint64_t graph_memory_reserved[kMaxGpus] = {};
  uint64_t graph_memory_used_high[kMaxGpus] = {};  // since the last reset
  uint64_t graph_memory_reserved_high[kMaxGpus] = {};

 private:
  Driver() = default;
  static void OnForkChild();

  struct Primary {
    std::unique_ptr<CUctx_st> ctx;
    int retained = 0;
    bool active = false;
    unsigned int flags = 0;
  };

  std::mutex init_mutex_;
  std::atomic<bool> initialized_{false};
  std::atomic<bool> forked_{false};
  std::string logged_error_;
  std::unique_ptr<SimState> state_;
  std::unique_ptr<ProcessAccount> account_;
  std::vector<int> visible_;
  bool eager_module_loading_ = false;
  std::mutex primary_mutex_;
  std::vector<Primary> primaries_;
  std::mutex pool_mutex_;
  std::vector<CUmemPoolHandle_st*> default_pools_;
  std::vector<CUmemPoolHandle_st*> current_pools_;
  std::atomic<uint64_t> next_id_{1};
};

// Runs an entry point's body for an initialized driver; failures inside become CUresults.
template <typename Body>
CUresult Api(Body body) noexcept {
  Driver& driver = Driver::Get();
  const CUresult ready = driver.CheckInitialized();
  if (ready != CUDA_SUCCESS) return ready;
  try {
    return body(driver);
  } catch (const std::bad_alloc&) {
    return CUDA_ERROR_OUT_OF_MEMORY;
  } catch (...) {
    return CUDA_ERROR_UNKNOWN;
  }
}

}  // namespace gpuslice::sim::cuda
