// Hooks of the memory queries: on a GPU with a slice, the driver and NVML report the slice
// (total = limit, free = limit - what the container uses, never more than the GPU has free).
// They never fail where the driver succeeds and never underflow.
#include <algorithm>

#include "core/abi/cuda.h"
#include "core/abi/nvml.h"
#include "preload/hooks.h"
#include "preload/internal/hook_support.h"

namespace gpuslice::preload {
namespace {

using internal::CallDriver;

struct SliceMemory {
  uint64_t total;
  uint64_t free;
  uint64_t used;
};

// The slice's view of a GPU the driver reports `gpu_total` / `gpu_free` for.
SliceMemory ViewOfSlice(Runtime& runtime, int slice, uint64_t gpu_total, uint64_t gpu_free) {
  runtime.Reconcile(slice, Runtime::kQueryReportAgeNanos);
  const uint64_t total = std::min<uint64_t>(runtime.ledger().Limit(slice), gpu_total);
  const uint64_t used = std::min(runtime.ledger().Used(slice), total);
  return SliceMemory{total, std::min(total - used, gpu_free), used};
}

template <auto Hook, typename Size>
CUresult MemGetInfo(Size* free, Size* total) {
  const CUresult result = CallDriver<Hook>(free, total);
  Runtime& runtime = Runtime::Get();
  if (result != CUDA_SUCCESS || !runtime.enforcing() || free == nullptr || total == nullptr) {
    return result;
  }
  const int slice = runtime.SliceOfCurrentContext();
  if (slice < 0) return result;
  const SliceMemory view = ViewOfSlice(runtime, slice, *total, *free);
  *total = static_cast<Size>(view.total);
  *free = static_cast<Size>(view.free);
  return result;
}

template <auto Hook, typename Size>
CUresult DeviceTotalMem(Size* bytes, CUdevice device) {
  const CUresult result = CallDriver<Hook>(bytes, device);
  Runtime& runtime = Runtime::Get();
  if (result != CUDA_SUCCESS || !runtime.enforcing() || bytes == nullptr) return result;
  const int slice = runtime.SliceOfDevice(device);
  if (slice >= 0)
    *bytes = static_cast<Size>(std::min<uint64_t>(*bytes, runtime.ledger().Limit(slice)));
  return result;
}

template <auto Hook, typename Memory>
nvmlReturn_t NvmlMemoryInfo(nvmlDevice_t device, Memory* memory) {
  const auto real = internal::Real<Hook>();
  if (real == nullptr) return internal::ToNvmlReturn(internal::Refusal::kMissingEntryPoint);
  const nvmlReturn_t result = real(device, memory);
  Runtime& runtime = Runtime::Get();
  if (result != NVML_SUCCESS || !runtime.enforcing() || memory == nullptr) return result;
  const int slice = runtime.SliceOfNvmlDevice(device);
  if (slice < 0) return result;
  const SliceMemory view = ViewOfSlice(runtime, slice, memory->total, memory->free);
  memory->total = view.total;
  memory->free = view.free;
  memory->used = view.used;
  if constexpr (requires { memory->reserved; }) memory->reserved = 0;
  return result;
}

}  // namespace
}  // namespace gpuslice::preload

namespace hooks = gpuslice::preload;

GPUSLICE_HOOK CUresult cuMemGetInfo(unsigned int* free, unsigned int* total) {
  return hooks::MemGetInfo<cuMemGetInfo>(free, total);
}

GPUSLICE_HOOK CUresult cuMemGetInfo_v2(size_t* free, size_t* total) {
  return hooks::MemGetInfo<cuMemGetInfo_v2>(free, total);
}

GPUSLICE_HOOK CUresult cuDeviceTotalMem(unsigned int* bytes, CUdevice device) {
  return hooks::DeviceTotalMem<cuDeviceTotalMem>(bytes, device);
}

GPUSLICE_HOOK CUresult cuDeviceTotalMem_v2(size_t* bytes, CUdevice device) {
  return hooks::DeviceTotalMem<cuDeviceTotalMem_v2>(bytes, device);
}

GPUSLICE_HOOK nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t* memory) {
  return hooks::NvmlMemoryInfo<nvmlDeviceGetMemoryInfo>(device, memory);
}

GPUSLICE_HOOK nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device,
                                                      nvmlMemory_v2_t* memory) {
  return hooks::NvmlMemoryInfo<nvmlDeviceGetMemoryInfo_v2>(device, memory);
}
