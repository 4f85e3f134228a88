// Hooks of context creation. A context takes device memory of its own (code, stacks,
// printf and heap buffers) that no allocation call shows; the first context a process makes on
// a GPU is charged what the GPU's used memory grew by while the driver made it.
#include <algorithm>
#include <optional>

#include "core/abi/cuda.h"
#include "preload/hooks.h"
#include "preload/internal/hook_support.h"
#include "preload/internal/nvml_devices.h"

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

// Creates a context on `device` with `create` and charges its overhead when it is this
// process's first on the slice; destroys it with `undo` when that overhead does not fit.
template <typename Create, typename Undo>
CUresult CreateContextCounted(CUdevice device, Create create, Undo undo) {
  Runtime& runtime = Runtime::Get();
  const int slice = runtime.enforcing() ? runtime.SliceOfDevice(device) : -1;
  if (slice < 0 || !runtime.ClaimFirstContext(slice)) return create();
  const std::optional<uint64_t> before = GpuUsedBytes(runtime, slice);
  const CUresult result = create();
  if (result != CUDA_SUCCESS) {
    runtime.ForgetFirstContext(slice);
    return result;
  }
  const std::optional<uint64_t> after = GpuUsedBytes(runtime, slice);
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
