// Hooks of context creation. A context takes device memory of its own (code, stacks,
// printf and heap buffers) that no allocation call shows; the first context a process makes on
// a GPU is charged what the GPU's used memory grew by while the driver made it. The first
// context is also when the process learns the PID NVML knows it by (preload/nvml_pid.h).
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <vector>

#include "core/abi/cuda.h"
#include "preload/hooks.h"
#include "preload/internal/hook_support.h"
#include "preload/internal/nvml_devices.h"
#include "preload/nvml_pid.h"

namespace gpuslice::preload {
namespace {

using internal::CallDriver;
using internal::Refusal;
using internal::ToCuResult;

// A measurement above this is a neighbour's allocation landing in the same instant, not
// context overhead.
constexpr uint64_t kMaxContextBytes = 2ULL << 30;

// Device memory in use on `slice`'s GPU by everyone, as NVML (unhooked) reports it; nullopt
// when NVML cannot say.
std::optional<uint64_t> GpuUsedBytes(Runtime& runtime, int slice) {
  static const auto memory_info = internal::Real<nvmlDeviceGetMemoryInfo>();
  nvmlDevice_t device = internal::NvmlHandleOfSlice(runtime.options(), slice);
  nvmlMemory_t memory{};
  if (memory_info == nullptr || device == nullptr || memory_info(device, &memory) != NVML_SUCCESS) {
    return std::nullopt;
  }
  return memory.used;
}

// The PIDs NVML (unhooked) lists with compute work on `slice`'s GPU; nullopt when NVML cannot
// say.
std::optional<std::vector<unsigned int>> GpuProcessPids(Runtime& runtime, int slice) {
  using ListFunction = nvmlReturn_t (*)(nvmlDevice_t, unsigned int*, nvmlProcessInfo_t*);
  static const ListFunction list = [] {
    // _v3 and _v2 fill the same record; drivers before R470 have only _v2.
    auto function =
        internal::DriverFunction<ListFunction>("nvmlDeviceGetComputeRunningProcesses_v3");
    return function != nullptr
               ? function
               : internal::DriverFunction<ListFunction>("nvmlDeviceGetComputeRunningProcesses_v2");
  }();
  nvmlDevice_t device = internal::NvmlHandleOfSlice(runtime.options(), slice);
  if (list == nullptr || device == nullptr) return std::nullopt;
  std::vector<nvmlProcessInfo_t> processes;
  // Processes may come and go between asking for the count and for the list.
  for (int attempt = 0; attempt < 4; ++attempt) {
    unsigned int count = static_cast<unsigned int>(processes.size());
    const nvmlReturn_t result = list(device, &count, processes.data());
    if (result == NVML_SUCCESS) {
      std::vector<unsigned int> pids;
      for (unsigned int i = 0; i < count; ++i) pids.push_back(processes[i].pid);
      return pids;
    }
    if (result != NVML_ERROR_INSUFFICIENT_SIZE) return std::nullopt;
    processes.resize(count + 8);
  }
  return std::nullopt;
}

// Sets the runtime's NVML PID from the GPU's process list before this process's first context
// there and the list now.
void LearnNvmlPid(Runtime& runtime, int slice,
                  const std::optional<std::vector<unsigned int>>& before) {
  const unsigned int own = static_cast<unsigned int>(getpid());
  const std::optional<std::vector<unsigned int>> after = GpuProcessPids(runtime, slice);
  if (!before || !after) {
    // NVML cannot list processes: its samples, if any, can only be matched by our own PID.
    runtime.SetNvmlPid(own);
    return;
  }
  const unsigned int pid = ResolveNvmlPid(own, *before, *after);
  if (pid == 0) {
    // Tried again at this process's first context on its next GPU, if it has one.
    Warn(
        "cannot tell which PID NVML gives this process (another process started on the GPU "
        "at the same instant): its GPU time is not measured and its compute share not held");
    return;
  }
  runtime.SetNvmlPid(pid);
}

// Creates a context on `device` with `create` and charges its overhead when it is this
// process's first on the slice; destroys it with `undo` when that overhead does not fit.
template <typename Create, typename Undo>
CUresult CreateContextCounted(CUdevice device, Create create, Undo undo) {
  Runtime& runtime = Runtime::Get();
  const int slice = runtime.enforcing() ? runtime.SliceOfDevice(device) : -1;
  if (slice < 0) return create();
  // A context takes device memory: none fits in a zero limit (a GPU without a limit of its
  // own, or a container whose limits could not be read), so nothing runs there at all.
  if (runtime.ledger().Limit(slice) == 0) return ToCuResult(Refusal::kOverLimit);
  if (!runtime.ClaimFirstContext(slice)) return create();
  const bool learn_pid = runtime.nvml_pid() == 0;
  const std::optional<std::vector<unsigned int>> pids_before =
      learn_pid ? GpuProcessPids(runtime, slice) : std::nullopt;
  const std::optional<uint64_t> before = GpuUsedBytes(runtime, slice);
  const CUresult result = create();
  if (result != CUDA_SUCCESS) {
    runtime.ForgetFirstContext(slice);
    return result;
  }
  const std::optional<uint64_t> after = GpuUsedBytes(runtime, slice);
  if (learn_pid) LearnNvmlPid(runtime, slice, pids_before);
  uint64_t overhead = 0;
  if (before && after && *after > *before) overhead = std::min(*after - *before, kMaxContextBytes);
  if (!runtime.ledger().Charge(slice, overhead)) {
    undo();
    runtime.ForgetFirstContext(slice);
    return ToCuResult(Refusal::kOverLimit);
  }
  return result;
}

template <auto Hook, typename... Args>
CUresult CreateContext(CUcontext* context, CUdevice device, Args... args) {
  static const auto destroy =
      internal::DriverFunction<decltype(&cuCtxDestroy_v2)>("cuCtxDestroy_v2");
  return CreateContextCounted(
      device, [&] { return CallDriver<Hook>(args...); },
      [&] {
        if (destroy != nullptr) destroy(*context);
      });
}

}  // namespace
}  // namespace gpuslice::preload

namespace hooks = gpuslice::preload;

GPUSLICE_HOOK CUresult cuDevicePrimaryCtxRetain(CUcontext* context, CUdevice device) {
  return hooks::CreateContextCounted(
      device,
      [&] { return hooks::internal::CallDriver<cuDevicePrimaryCtxRetain>(context, device); },
      [&] {
        static const auto release =
            hooks::internal::DriverFunction<decltype(&cuDevicePrimaryCtxRelease_v2)>(
                "cuDevicePrimaryCtxRelease_v2");
        if (release != nullptr) release(device);
      });
}

GPUSLICE_HOOK CUresult cuCtxCreate(CUcontext* context, unsigned int flags, CUdevice device) {
  return hooks::CreateContext<cuCtxCreate>(context, device, context, flags, device);
}

GPUSLICE_HOOK CUresult cuCtxCreate_v2(CUcontext* context, unsigned int flags, CUdevice device) {
  return hooks::CreateContext<cuCtxCreate_v2>(context, device, context, flags, device);
}

GPUSLICE_HOOK CUresult cuCtxCreate_v3(CUcontext* context, CUexecAffinityParam* params, int count,
                                      unsigned int flags, CUdevice device) {
  return hooks::CreateContext<cuCtxCreate_v3>(context, device, context, params, count, flags,
                                              device);
}

GPUSLICE_HOOK CUresult cuCtxCreate_v4(CUcontext* context, CUctxCreateParams* params,
                                      unsigned int flags, CUdevice device) {
  return hooks::CreateContext<cuCtxCreate_v4>(context, device, context, params, flags, device);
}
