// The library's process-wide state: the options decided at load (the container's limits
// file, or the environment), the container's region, the memory ledger and what it is
// reconciled with, the compute throttle, the background watcher and the map from CUDA and NVML
// devices to slices. Hooks reach everything through Runtime::Get().
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/abi/cuda_types.h"
#include "core/abi/nvml.h"
#include "core/region.h"
#include "preload/allocation_map.h"
#include "preload/compute_throttle.h"
#include "preload/driver_overhead.h"
#include "preload/graph_memory.h"
#include "preload/memory_ledger.h"
#include "preload/options.h"
#include "preload/physical_handles.h"
#include "preload/pool_charges.h"

namespace gpuslice::preload {

// Tells the container's log (stderr) something the library cannot do.
void Warn(const std::string& message);

// Thread-safe. Created on first use (the library's constructor makes that its load) and never
// destroyed: hooks may run from other libraries' exit handlers.
class Runtime {
 public:
  static Runtime& Get() {
    static Runtime* const runtime = Create();
    return *runtime;
  }

  const Options& options() const { return options_; }
  bool enforcing() const { return options_.enforce; }

  // The slice of CUDA device `device`; -1 only when the library does not enforce. A GPU the
  // limits do not name is kUnlistedSlice (zero memory limit), said once on stderr.
  int SliceOfDevice(CUdevice device);
  // The slice of the calling thread's current context, or -1.
  int SliceOfCurrentContext();
  // The GPU that runs `stream` (the current context's for the default streams), or -1.
  CUdevice DeviceOfStream(CUstream stream);
  // The slice whose GPU runs `stream` (the current context's for the default streams), or -1.
  int SliceOfStream(CUstream stream);
  // The slice of an NVML device handle, as for SliceOfDevice.
  int SliceOfNvmlDevice(nvmlDevice_t device);

  // Accounting, mapped on first use (the region file is opened then, not at load).
  MemoryLedger& ledger();
  AllocationMap& allocations() { return *allocations_.load(std::memory_order_acquire); }
  PoolCharges& pool_charges() { return *pool_charges_.load(std::memory_order_acquire); }
  PhysicalHandles& physical_handles() { return *physical_handles_.load(std::memory_order_acquire); }
  GraphMemory& graph_memory() { return *graph_memory_.load(std::memory_order_acquire); }
  DriverOverhead& overhead() { return *overhead_.load(std::memory_order_acquire); }

  // Brings this process's charges on `slice` to what the driver reports: every pool to what it
  // reserves, graph memory to the device's graph pool, and the rest to NVML's figure for this
  // process (driver_overhead.h), unless NVML was asked less than `report_age_nanos` ago (its
  // figure covers only what no call announces, which the background reconciles anyway).
  // Returns the bytes of driver overhead charged now, or nullopt when NVML was not asked or
  // cannot report this process (its PID unknown, or no per-process figures).
  std::optional<uint64_t> Reconcile(int slice, uint64_t report_age_nanos = 0);
  // Memory queries take NVML's figure at most this old: frameworks may ask in a loop.
  static constexpr uint64_t kQueryReportAgeNanos = 10'000'000;

  // Counts the process's allocations (in bytes) and frees that are between the ledger and the
  // driver, on counters per group of threads (so threads do not share one cache line), for a
  // reconciliation to tell how far the ledger and the driver's report can disagree.
  void AllocationBegins(uint64_t bytes) {
    Calls().allocated_begun.fetch_add(bytes, std::memory_order_seq_cst);
  }
  void AllocationEnds(uint64_t bytes) {
    Calls().allocated_ended.fetch_add(bytes, std::memory_order_seq_cst);
  }
  void FreeBegins() { Calls().frees_begun.fetch_add(1, std::memory_order_seq_cst); }
  void FreeEnds() { Calls().frees_ended.fetch_add(1, std::memory_order_seq_cst); }
  DriverOverhead::Calls CountDriverCalls() const;

  // Starts the background watcher (once): every 2 ms it charges measured GPU time to throttled
  // slices, and every kReconcilePeriodNanos it reconciles every slice and gives an idle
  // process's memory reserve back.
  void StartWatcher();
  static constexpr uint64_t kReconcilePeriodNanos = 50'000'000;

  // The launch gate, called by every launch hook before the driver. Returns at once while
  // every throttled slice has credit (one atomic load each); otherwise waits for credit
  // on the slice the launch runs on.
  void BeforeLaunch(CUstream stream) {
    if (!throttling_) return;
    const core::region::Region* region = region_.load(std::memory_order_acquire);
    if (region != nullptr && watcher_started_.load(std::memory_order_relaxed)) {
      bool all_have_credit = true;
      for (int i = 0; i < throttled_count_; ++i) {
        all_have_credit &= throttle_->HasCredit(throttled_[i]);
      }
      if (all_have_credit) return;
    }
    WaitToLaunch(stream);
  }

  // This process's PID as NVML reports it (preload/nvml_pid.h), 0 while unknown: set when the
  // process makes its first context.
  unsigned int nvml_pid() const { return nvml_pid_.load(std::memory_order_acquire); }
  // Also publishes it in the region (MemoryLedger::PublishNvmlPid).
  void SetNvmlPid(unsigned int pid);

  // Called in the child after fork: it holds none of its parent's memory and has no watcher.
  void AfterForkInChild();

 private:
  Runtime(Options options, std::vector<std::string> load_messages);
  static Runtime* Create();
  core::region::Region* Region();
  // Says on stderr, once, what was decided at load. Where the library enforces, only a process
  // that uses a GPU says it (on its first use), so the container's every shell command does not
  // repeat it.
  void SayLoadMessages();
  // The slice of a device, without caching or messages.
  int ResolveCudaDevice(CUdevice device) const;
  int ResolveNvmlDevice(nvmlDevice_t device) const;
  // Names, once per process, every GPU CUDA (or NVML) shows that the limits do not name.
  void ReportUnlistedCudaDevices();
  void ReportUnlistedNvmlDevices();
  // One stderr line for the GPUs in `names` (keyed by UUID) not named before.
  void ReportUnlisted(const std::string& seen_by,
                      const std::vector<std::pair<std::string, std::string>>& names);
  void WaitToLaunch(CUstream stream);
  struct alignas(64) CallCounters {
    std::atomic<uint64_t> allocated_begun{0};
    std::atomic<uint64_t> allocated_ended{0};
    std::atomic<uint64_t> frees_begun{0};
    std::atomic<uint64_t> frees_ended{0};
  };
  CallCounters& Calls() {
    static std::atomic<int> next_shard{0};
    static thread_local int shard = -1;
    if (shard < 0) shard = next_shard.fetch_add(1, std::memory_order_relaxed) % kCallShards;
    return calls_[shard];
  }
  void StartWatcherThread();
  void Watch();
  // At exit: waits for the watcher's tick to end and keeps it from starting another, so it
  // never calls NVML while NVML is being torn down.
  static void StopWatcherAtExit();

  const Options options_;
  const std::vector<std::string> load_messages_;
  std::atomic<bool> load_messages_said_{false};
  std::atomic<bool> cuda_unlisted_reported_{false};
  std::atomic<bool> nvml_unlisted_reported_{false};
  std::mutex reported_mutex_;
  std::set<std::string> reported_unlisted_;  // guarded by reported_mutex_
  bool throttling_ = false;
  int throttled_count_ = 0;
  int throttled_[core::contract::kMaxVisibleGpus] = {};

  std::atomic<core::region::Region*> region_{nullptr};
  std::atomic<MemoryLedger*> ledger_{nullptr};
  std::atomic<AllocationMap*> allocations_;
  std::atomic<PhysicalHandles*> physical_handles_;
  std::atomic<PoolCharges*> pool_charges_;
  std::atomic<GraphMemory*> graph_memory_;
  std::atomic<DriverOverhead*> overhead_;
  ComputeThrottle* throttle_ = nullptr;  // set before region_ is published
  bool refuse_all_ = false;              // set before region_ is published: the region failed
  std::atomic<bool> watcher_started_{false};
  std::atomic<bool> watcher_stopping_{false};
  std::atomic<bool> watcher_in_tick_{false};
  std::atomic<unsigned int> nvml_pid_{0};
  static constexpr int kCallShards = 64;
  CallCounters calls_[kCallShards];
  // When NVML was last asked for each slice (CLOCK_MONOTONIC ns).
  std::atomic<uint64_t> reported_at_[core::contract::kMaxVisibleGpus] = {};

  static constexpr int kMaxCudaDevices = 64;
  static constexpr int kUnresolved = -2;
  std::atomic<int> slice_of_device_[kMaxCudaDevices];
};

}  // namespace gpuslice::preload
