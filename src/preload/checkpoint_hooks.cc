// The hook of cuCheckpointProcessRestore, which a checkpoint tool (cuda-checkpoint) run in the
// container calls with the PID of the process whose device memory it brings back. That memory
// is charged to the container only if the restored process still holds its slot in the
// container's region (it was checkpointed and restored in place: nothing was ever refunded).
// Otherwise (a process restored from another node or container, or not of this container) the
// driver would hold memory nobody charged, so after the restore it is charged to a slot claimed
// for that process, at what NVML reports the process holds on each slice's GPU; when that does
// not fit, or NVML cannot say, the process is checkpointed again (its memory leaves the GPU) and
// the call fails with CUDA_ERROR_OUT_OF_MEMORY, counted as a refusal.
//
// NVML names the process by the driver's PID (the host's, in a pod), so it is found the way a
// process finds its own (preload/nvml_pid.h): the PID that appeared in a GPU's process list
// during the restore. The library in the restored process knows nothing of this: what it
// charges later it charges to its own slot.
#include <sys/types.h>

#include <algorithm>
#include <optional>
#include <vector>

#include "core/abi/cuda.h"
#include "core/region.h"
#include "preload/hooks.h"
#include "preload/internal/hook_support.h"
#include "preload/internal/nvml_devices.h"
#include "preload/internal/process.h"
#include "preload/nvml_pid.h"

namespace gpuslice::preload {
namespace {

using internal::CallDriver;
using internal::Refusal;
using internal::ToCuResult;
using ProcessList = std::optional<std::vector<nvmlProcessInfo_t>>;

std::vector<unsigned int> Pids(const std::vector<nvmlProcessInfo_t>& processes) {
  std::vector<unsigned int> pids;
  for (const nvmlProcessInfo_t& process : processes) pids.push_back(process.pid);
  return pids;
}

// What the process restored as `pid` holds on a GPU, from its process lists before and after
// the restore: 0 when no process appeared there (it has nothing on that GPU), nullopt when NVML
// cannot say (no lists, no per-process figure, or several processes appeared at once).
std::optional<uint64_t> RestoredBytes(unsigned int pid, const ProcessList& before,
                                      const ProcessList& after) {
  if (!before || !after) return std::nullopt;
  const std::vector<unsigned int> old_pids = Pids(*before);
  const bool appeared = std::any_of(after->begin(), after->end(), [&](const auto& process) {
    return std::find(old_pids.begin(), old_pids.end(), process.pid) == old_pids.end();
  });
  const bool listed = std::any_of(after->begin(), after->end(),
                                  [&](const auto& process) { return process.pid == pid; });
  if (!appeared && !listed) return 0;
  const unsigned int nvml_pid = ResolveNvmlPid(pid, old_pids, Pids(*after));
  if (nvml_pid == 0) return std::nullopt;
  for (const nvmlProcessInfo_t& process : *after) {
    if (process.pid != nvml_pid) continue;
    if (process.usedGpuMemory == static_cast<unsigned long long>(NVML_VALUE_NOT_AVAILABLE))
      return std::nullopt;
    return process.usedGpuMemory;
  }
  return std::nullopt;
}

}  // namespace

GPUSLICE_HOOK CUresult cuCheckpointProcessRestore(int pid, CUcheckpointRestoreArgs* args) {
  Runtime& runtime = Runtime::Get();
  if (!runtime.enforcing()) return CallDriver<cuCheckpointProcessRestore>(pid, args);
  MemoryLedger& ledger = runtime.ledger();
  const internal::ProcessProbe target = internal::ProbeProcess(static_cast<pid_t>(pid));
  const bool running = target.state == internal::ProcessProbe::State::kRunning;
  if (running && ledger.HoldsSlot(static_cast<pid_t>(pid), target.start_time)) {
    return CallDriver<cuCheckpointProcessRestore>(pid, args);
  }
  const int slices = std::min(runtime.options().device_count, core::region::kMaxDevices);
  std::vector<ProcessList> before;
  for (int slice = 0; slice < slices; ++slice) {
    before.push_back(internal::GpuProcesses(runtime.options(), slice));
  }
  const CUresult restored = CallDriver<cuCheckpointProcessRestore>(pid, args);
  if (restored != CUDA_SUCCESS) return restored;

  uint64_t bytes[core::region::kMaxDevices] = {};
  bool known = running;
  for (int slice = 0; known && slice < slices; ++slice) {
    const std::optional<uint64_t> held =
        RestoredBytes(static_cast<unsigned int>(pid), before[static_cast<size_t>(slice)],
                      internal::GpuProcesses(runtime.options(), slice));
    known = held.has_value();
    if (held) bytes[slice] = *held;
  }
  if (known && ledger.ChargeForProcess(static_cast<pid_t>(pid), target.start_time, bytes)) {
    return restored;
  }
  if (!known) {
    Warn("refused to restore process " + std::to_string(pid) +
         ": what it holds on the GPUs cannot be learned from NVML, so it cannot be charged");
    ledger.CountRefusal(0, 0);
  }
  // Restored processes are locked: checkpointing again takes their memory off the GPUs.
  static const auto checkpoint = internal::DriverFunction<decltype(&cuCheckpointProcessCheckpoint)>(
      "cuCheckpointProcessCheckpoint");
  if (checkpoint == nullptr || checkpoint(pid, nullptr) != CUDA_SUCCESS) {
    Warn("process " + std::to_string(pid) +
         " was restored past the container's memory limit and could not be checkpointed again");
  }
  return ToCuResult(Refusal::kOverLimit);
}

}  // namespace gpuslice::preload
