// GPU discovery and critical-error events, behind one interface so the device plugin runs the
// same code on NVML (real or simulated, see nvml_backend.h) and on in-memory fakes in tests.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "core/gpu.h"
#include "core/status.h"

namespace gpuslice::gpu {

// A critical error reported by the driver for one GPU, or for all of them.
struct XidEvent {
  std::string gpu_uuid;  // empty: the driver lost every GPU (all must be treated as failed)
  int xid = 0;           // NVIDIA XID code; 0 when the driver reported no code
};

// Thread-safety: every method may be called from any thread, concurrently.
class GpuBackend {
 public:
  virtual ~GpuBackend() = default;

  // Returns the node's GPUs in index order, or Unavailable when the driver cannot be queried.
  virtual Result<std::vector<core::GpuInfo>> ListGpus() = 0;

  // Blocks for at most `timeout` waiting for the next critical XID event on any GPU listed by
  // ListGpus. Returns the event; DeadlineExceeded when none arrived in time; Unavailable when
  // events cannot be watched at all (the caller then relies on CheckGpu polling).
  virtual Result<XidEvent> WaitForXid(std::chrono::milliseconds timeout) = 0;

  // Returns OK when the driver still answers queries about the GPU, Unavailable (with the
  // driver's reason) otherwise. A GPU that stopped answering never counts as recovered.
  virtual Status CheckGpu(const std::string& uuid) = 0;
};

}  // namespace gpuslice::gpu
