// NVML names processes by the PIDs the driver sees: the host's. In a pod, which has a PID
// namespace of its own, those are not what getpid() returns, and the compute throttle, which
// reads NVML's per-process samples, would never find its own process. So each process learns
// its NVML PID when it makes its first context: the PID that appears in the GPU's process list
// while it does.
#pragma once

#include <vector>

namespace gpuslice::preload {

// This process's PID as NVML reports it, from the GPU's process lists before and after this
// process made a context there: `own_pid` when NVML lists it (one namespace); otherwise the one
// PID that appeared in between; 0 when none or several did (another process made its first
// context in the same instant), i.e. unknown.
unsigned int ResolveNvmlPid(unsigned int own_pid, const std::vector<unsigned int>& before,
                            const std::vector<unsigned int>& after);

}  // namespace gpuslice::preload
