// Where the compute throttle learns how much GPU time this process has used.
#pragma once

#include <cstdint>
#include <memory>

#include "preload/options.h"

namespace gpuslice::preload {

// Not thread-safe: one watcher thread per process owns it.
class BusySource {
 public:
  virtual ~BusySource() = default;
  // Returns the GPU time (ns) this process, `nvml_pid` in NVML's reports (0: unknown), used
  // on slice `slice` since the previous call for that slice (since creation for the first),
  // 0 when nothing could be measured.
  virtual uint64_t TakeBusyNanos(int slice, unsigned int nvml_pid) = 0;
};

// Measures with NVML's per-process utilization samples (nvmlDeviceGetProcessUtilization):
// each sample of this process's PID contributes its SM utilization times the time it covers.
// Returns nullptr when NVML cannot be loaded or initialized, or a slice's GPU is not found.
// NVML reports the PIDs the driver sees, which in a pod are not getpid(): the caller passes the
// one NVML uses (preload/nvml_pid.h). Samples taken before it is known only advance the window.
std::unique_ptr<BusySource> MakeNvmlBusySource(const Options& options);

}  // namespace gpuslice::preload
