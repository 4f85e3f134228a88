// GPU discovery and critical-error events, behind one interface so the device plugin runs the
// same code on NVML (real or simulated, see nvml_backend.h) and on in-memory fakes in tests.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "core/gpu.h"
#include "core/status.h"

namespace gpuslice::gpu {

// The GPUs found, and the ones that were found but did not answer (a lost GPU must not take
// the node's other GPUs down with it).
struct Discovery {
  std::vector<core::GpuInfo> gpus;    // in index order
  std::vector<std::string> failures;  // "GPU 3: nvmlDeviceGetUUID: GPU is lost", one per GPU
  // The node's driver ("580.65.06") and the CUDA version it supports (13000 for 13.0); empty
  // and 0 when the driver does not say.
  std::string driver_version;
  int cuda_driver_version = 0;
};

// A critical error reported by the driver for one GPU, or for all of them.
struct XidEvent {
  std::string gpu_uuid;  // empty: the driver lost every GPU (all must be treated as failed)
  int xid = 0;           // NVIDIA XID code; 0 when the driver reported no code
};

// One of the driver's per-process utilization samples of a GPU (nvmlDeviceGetProcessUtilization).
struct ProcessUtilizationSample {
  unsigned int pid = 0;       // as the driver sees it: the host's PID
  uint64_t timestamp_us = 0;  // CLOCK_REALTIME, microseconds
  unsigned int sm_percent = 0;
};

// Thread-safety: every method may be called from any thread, concurrently.
class GpuBackend {
 public:
  virtual ~GpuBackend() = default;

  // Returns the node's GPUs, or Unavailable when the driver cannot be queried at all.
  virtual Result<Discovery> Discover() = 0;

  // Blocks for at most `timeout` waiting for the next critical XID event on any GPU listed by
  // Discover. Returns the event; DeadlineExceeded when none arrived in time; Unavailable when
  // events cannot be watched at all (the caller then relies on CheckGpu polling).
  virtual Result<XidEvent> WaitForXid(std::chrono::milliseconds timeout) = 0;

  // Returns OK when the driver still answers queries about the GPU, Unavailable (with the
  // driver's reason) otherwise. A GPU that stopped answering never counts as recovered.
  virtual Status CheckGpu(const std::string& uuid) = 0;

  // Returns the per-process samples of GPU `uuid` taken after `after_us` (0: every sample the
  // driver keeps). FailedPrecondition where the backend or driver cannot sample processes,
  // Unavailable when the driver fails.
  virtual Result<std::vector<ProcessUtilizationSample>> ProcessUtilization(const std::string& uuid,
                                                                           uint64_t after_us) {
    (void)uuid;
    (void)after_us;
    return Status::FailedPrecondition("this GPU backend does not sample per-process utilization");
  }
};

}  // namespace gpuslice::gpu
