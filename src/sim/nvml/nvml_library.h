// The process-wide state of the simulated NVML (libgpuslice-sim-nvml.so): initialization
// reference count, the node's state file and the device handles NVML hands out.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/abi/nvml.h"
#include "sim/spec.h"
#include "sim/state.h"

// NVML's opaque handle types, defined here: a device handle is the address of one of these.
struct nvmlDevice_st {
  int visible_index;  // what nvmlDeviceGetIndex reports
  int gpu;            // index on the simulated node
};

#define GPUSLICE_NVML_EXPORT extern "C" __attribute__((visibility("default")))

namespace gpuslice::sim::nvml {

// Thread-safe. Once opened the state stays mapped for the life of the process, so handles
// stay valid memory even across nvmlShutdown (calls then answer NVML_ERROR_UNINITIALIZED).
class NvmlLibrary {
 public:
  static NvmlLibrary& Get();

  // nvmlInit*: opens the state on first use; counts nested initializations like NVML.
  nvmlReturn_t Init();
  nvmlReturn_t Shutdown();

  // NVML_SUCCESS with *gpu set, or UNINITIALIZED / INVALID_ARGUMENT for a bad handle /
  // GPU_IS_LOST while the GPU is marked lost.
  nvmlReturn_t Resolve(nvmlDevice_t device, int* gpu) const;

  bool initialized() const { return init_count_.load(std::memory_order_acquire) > 0; }
  // REQUIRES: initialized().
  SimState& state() const { return *state_; }
  int device_count() const { return static_cast<int>(visible_.size()); }
  // REQUIRES: 0 <= visible_index < device_count().
  nvmlDevice_t handle(int visible_index) { return &handles_[visible_index]; }
  // The handle of node GPU `gpu`, or nullptr when this process cannot see it.
  nvmlDevice_t HandleOfGpu(int gpu);

  // The PID NVML reports for process `pid` (GPUSLICE_SIM_HOST_PID_OFFSET).
  unsigned int ReportedPid(int pid) const { return static_cast<unsigned int>(pid) + pid_offset_; }

  // Why the last nvmlInit failed ("" after a success).
  std::string init_error() const;

 private:
  NvmlLibrary() = default;

  mutable std::mutex mutex_;
  std::atomic<int> init_count_{0};
  std::unique_ptr<SimState> state_;
  // States of earlier initializations, kept mapped: a thread may still be inside a call that
  // began before the last shutdown.
  std::vector<std::unique_ptr<SimState>> retired_states_;
  std::vector<int> visible_;
  unsigned int pid_offset_ = 0;  // set during initialization, before any device call
  nvmlDevice_st handles_[kMaxGpus] = {};
  std::string init_error_;
  std::string logged_error_;
};

// Copies `text` into an NVML caller's buffer of `length` bytes.
nvmlReturn_t CopyOut(const std::string& text, char* buffer, unsigned int length);

}  // namespace gpuslice::sim::nvml
