// Hooks of the calls after which the driver holds device memory no allocation call returned:
// context creation (each context's own memory), module and library loads (their code and data,
// when loaded eagerly), and cuCtxSetLimit (stacks, heaps, buffers). Each is charged what NVML
// reports the process holds after it, beyond the process's other charges
// (preload/driver_overhead.h); when that takes the container past its limit, the call is undone
// and fails with CUDA_ERROR_OUT_OF_MEMORY. Growth between these calls (lazily loaded modules,
// stacks grown by a launch) is charged by the background reconciliation.
//
// The first context is also when the process learns the PID NVML knows it by
// (preload/nvml_pid.h). Where NVML gives no per-process figures, a context is charged what the
// GPU's used memory grew by while the driver made it, until the process exits.
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

// The PIDs NVML lists with compute work on `slice`'s GPU; nullopt when NVML cannot say.
std::optional<std::vector<unsigned int>> GpuProcessPids(Runtime& runtime, int slice) {
  const std::optional<std::vector<nvmlProcessInfo_t>> processes =
      internal::GpuProcesses(runtime.options(), slice);
  if (!processes) return std::nullopt;
  std::vector<unsigned int> pids;
  for (const nvmlProcessInfo_t& process : *processes) pids.push_back(process.pid);
  return pids;
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
    // Tried again at this process's next context creation.
    Warn(
        "cannot tell which PID NVML gives this process (another process started on the GPU "
        "at the same instant): its GPU time is not measured, its compute share not held, and "
        "its driver memory charged as the GPU's used memory grows");
    return;
  }
  runtime.SetNvmlPid(pid);
}

// Runs `op`, after which the driver may hold memory of its own on `slice`'s GPU, and charges
// what it took. When that takes the container past its limit, undoes `op` with `undo` and
// returns CUDA_ERROR_OUT_OF_MEMORY. `measured`, when NVML gives no per-process figure: the
// bytes to charge instead (nullopt: nothing).
template <typename Op, typename Undo, typename Fallback>
CUresult ChargeDriverGrowth(Runtime& runtime, int slice, Op op, Undo undo, Fallback measured) {
  if (slice < 0) return op();
  MemoryLedger& ledger = runtime.ledger();
  // What the overhead grew by while `op` ran, whoever reconciled it (the watcher may have).
  const uint64_t before = runtime.overhead().Charged(slice);
  const CUresult result = op();
  if (result != CUDA_SUCCESS) return result;
  if (!runtime.Reconcile(slice)) {
    const std::optional<uint64_t> bytes = measured();
    if (!bytes || runtime.overhead().ChargeMeasured(ledger, slice, *bytes)) return result;
    undo();
    return ToCuResult(Refusal::kOverLimit);
  }
  const uint64_t after = runtime.overhead().Charged(slice);
  if (after <= before || ledger.Used(slice) <= ledger.Limit(slice)) return result;
  undo();
  runtime.overhead().Lower(ledger, slice, after - before);
  return ToCuResult(Refusal::kOverLimit);
}

// Creates a context on `device` with `create` and charges its memory; destroys it with `undo`
// when that does not fit.
template <typename Create, typename Undo>
CUresult CreateContextCounted(CUdevice device, Create create, Undo undo) {
  Runtime& runtime = Runtime::Get();
  const int slice = runtime.enforcing() ? runtime.SliceOfDevice(device) : -1;
  if (slice < 0) return create();
  // A context takes device memory: none fits in a zero limit (a GPU without a limit of its
  // own, or a container whose limits could not be read), so nothing runs there at all.
  if (runtime.ledger().Limit(slice) == 0) return ToCuResult(Refusal::kOverLimit);
  const bool learn_pid = runtime.nvml_pid() == 0;
  const std::optional<std::vector<unsigned int>> pids_before =
      learn_pid ? GpuProcessPids(runtime, slice) : std::nullopt;
  const std::optional<uint64_t> gpu_before = GpuUsedBytes(runtime, slice);
  std::optional<uint64_t> gpu_after;
  const CUresult result = ChargeDriverGrowth(
      runtime, slice,
      [&] {
        const CUresult created = create();
        if (created != CUDA_SUCCESS) return created;
        gpu_after = GpuUsedBytes(runtime, slice);
        if (learn_pid) LearnNvmlPid(runtime, slice, pids_before);
        return created;
      },
      undo,
      [&]() -> std::optional<uint64_t> {
        if (!gpu_before || !gpu_after || *gpu_after <= *gpu_before) return std::nullopt;
        return std::min(*gpu_after - *gpu_before, kMaxContextBytes);
      });
  if (result == CUDA_SUCCESS) runtime.StartWatcher();
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

std::optional<uint64_t> NotMeasured() { return std::nullopt; }

// A module or library load through `Load` (the driver call), undone by `unload`.
template <typename Load, typename Unload>
CUresult LoadCounted(Load load, Unload unload) {
  Runtime& runtime = Runtime::Get();
  const int slice = runtime.enforcing() ? runtime.SliceOfCurrentContext() : -1;
  return ChargeDriverGrowth(runtime, slice, load, unload, NotMeasured);
}

template <auto Hook, typename... Args>
CUresult LoadModule(CUmodule* module, Args... args) {
  static const auto unload = internal::DriverFunction<decltype(&cuModuleUnload)>("cuModuleUnload");
  return LoadCounted([&] { return CallDriver<Hook>(module, args...); },
                     [&] {
                       if (unload != nullptr) unload(*module);
                     });
}

template <auto Hook, typename... Args>
CUresult LoadLibrary(CUlibrary* library, Args... args) {
  static const auto unload =
      internal::DriverFunction<decltype(&cuLibraryUnload)>("cuLibraryUnload");
  return LoadCounted([&] { return CallDriver<Hook>(library, args...); },
                     [&] {
                       if (unload != nullptr) unload(*library);
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

GPUSLICE_HOOK CUresult cuCtxSetLimit(CUlimit limit, size_t value) {
  hooks::Runtime& runtime = hooks::Runtime::Get();
  const int slice = runtime.enforcing() ? runtime.SliceOfCurrentContext() : -1;
  size_t previous = 0;
  static const auto get_limit =
      hooks::internal::DriverFunction<decltype(&cuCtxGetLimit)>("cuCtxGetLimit");
  const bool undoable = get_limit != nullptr && get_limit(&previous, limit) == CUDA_SUCCESS;
  return hooks::ChargeDriverGrowth(
      runtime, undoable ? slice : -1,
      [&] { return hooks::internal::CallDriver<cuCtxSetLimit>(limit, value); },
      [&] { hooks::internal::CallDriver<cuCtxSetLimit>(limit, previous); }, hooks::NotMeasured);
}

GPUSLICE_HOOK CUresult cuModuleLoad(CUmodule* module, const char* path) {
  return hooks::LoadModule<cuModuleLoad>(module, path);
}

GPUSLICE_HOOK CUresult cuModuleLoadData(CUmodule* module, const void* image) {
  return hooks::LoadModule<cuModuleLoadData>(module, image);
}

GPUSLICE_HOOK CUresult cuModuleLoadDataEx(CUmodule* module, const void* image, unsigned int count,
                                          CUjit_option* options, void** values) {
  return hooks::LoadModule<cuModuleLoadDataEx>(module, image, count, options, values);
}

GPUSLICE_HOOK CUresult cuModuleLoadFatBinary(CUmodule* module, const void* image) {
  return hooks::LoadModule<cuModuleLoadFatBinary>(module, image);
}

GPUSLICE_HOOK CUresult cuLibraryLoadData(CUlibrary* library, const void* code,
                                         CUjit_option* jit_options, void** jit_values,
                                         unsigned int jit_count, CUlibraryOption* options,
                                         void** values, unsigned int count) {
  return hooks::LoadLibrary<cuLibraryLoadData>(library, code, jit_options, jit_values, jit_count,
                                               options, values, count);
}

GPUSLICE_HOOK CUresult cuLibraryLoadFromFile(CUlibrary* library, const char* path,
                                             CUjit_option* jit_options, void** jit_values,
                                             unsigned int jit_count, CUlibraryOption* options,
                                             void** values, unsigned int count) {
  return hooks::LoadLibrary<cuLibraryLoadFromFile>(library, path, jit_options, jit_values,
                                                   jit_count, options, values, count);
}
