// What the driver reports a process holds on each slice's GPU: NVML's per-process used memory,
// which counts every byte the driver took for the process, allocated or not.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include "preload/options.h"

namespace gpuslice::preload {

class ProcessUsage {
 public:
  virtual ~ProcessUsage() = default;
  // Bytes the process NVML knows as `pid` holds on slice `slice`'s GPU (0 when NVML does not
  // list it there); nullopt when NVML cannot say (missing, or no per-process figures, as under
  // MIG). Thread-safe.
  virtual std::optional<uint64_t> UsedBytes(int slice, unsigned int pid) = 0;
};

// Reads nvmlDeviceGetComputeRunningProcesses (unhooked). REQUIRES: `options` outlives it.
std::unique_ptr<ProcessUsage> MakeNvmlProcessUsage(const Options& options);

}  // namespace gpuslice::preload
