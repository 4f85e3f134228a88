// GpuBackend on NVML, loaded at run time with dlopen: no NVIDIA headers or libraries at build
// time. Pointed at libnvidia-ml.so.1 on a GPU node, or at the simulated NVML library
// (libgpuslice-sim-nvml.so) anywhere else; both go through exactly this code.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "gpu/gpu_backend.h"

namespace gpuslice::gpu {

namespace internal {
class NvmlLibrary;
}

struct NvmlBackendOptions {
  // Passed to dlopen: a soname searched the usual way, or a path.
  std::string library = "libnvidia-ml.so.1";
  // Root of sysfs, for the NUMA node of drivers whose NVML lacks nvmlDeviceGetNumaNodeId.
  std::string sysfs_root = "/sys";
};

// Finds the driver library `name` (e.g. libnvidia-ml.so.1) under a driver root such as the GPU
// Operator's driver container root: in its usr/lib64, usr/lib/<arch>-linux-gnu, lib64,
// lib/<arch>-linux-gnu, usr/lib or lib, in that order. Returns the path, or NotFound naming the
// root and the directories searched.
Result<std::string> FindDriverLibrary(const std::string& root, std::string_view name);

class NvmlBackend : public GpuBackend {
 public:
  // Loads the library and initializes NVML. Returns Unavailable naming the library and the
  // loader's or NVML's reason when either fails.
  static Result<std::unique_ptr<NvmlBackend>> Create(const NvmlBackendOptions& options);

  ~NvmlBackend() override;

  Result<Discovery> Discover() override;
  Result<XidEvent> WaitForXid(std::chrono::milliseconds timeout) override;
  Status CheckGpu(const std::string& uuid) override;
  Result<std::vector<ProcessUtilizationSample>> ProcessUtilization(const std::string& uuid,
                                                                   uint64_t after_us) override;

 private:
  NvmlBackend(std::unique_ptr<internal::NvmlLibrary> library, NvmlBackendOptions options);
  Status EnsureEventSet();
  Result<core::GpuInfo> DescribeGpu(unsigned int index);

  std::unique_ptr<internal::NvmlLibrary> nvml_;
  NvmlBackendOptions options_;
  std::mutex event_mutex_;  // guards event-set creation; waiting itself is NVML's business
  void* event_set_ = nullptr;
  // UUIDs of the devices registered in the event set, by NVML handle; immutable once the set
  // exists, so WaitForXid reads it without the lock.
  std::map<const void*, std::string> event_devices_;
  bool events_unsupported_ = false;
};

}  // namespace gpuslice::gpu
