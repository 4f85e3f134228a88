#include "preload/internal/nvml_devices.h"

#include <optional>
#include <vector>

#include "preload/internal/driver.h"

namespace gpuslice::preload::internal {

nvmlDevice_t NvmlHandleOfSlice(const Options& options, int slice) {
  // The unlisted slice stands for any number of GPUs, none of them its own.
  if (slice < 0 || slice >= options.device_count) return nullptr;
  static const bool initialized = [] {
    const auto init = DriverFunction<decltype(&nvmlInit_v2)>("nvmlInit_v2");
    return init != nullptr && init() == NVML_SUCCESS;
  }();
  if (!initialized) return nullptr;
  static const auto by_uuid =
      DriverFunction<decltype(&nvmlDeviceGetHandleByUUID)>("nvmlDeviceGetHandleByUUID");
  static const auto by_index =
      DriverFunction<decltype(&nvmlDeviceGetHandleByIndex_v2)>("nvmlDeviceGetHandleByIndex_v2");
  nvmlDevice_t device = nullptr;
  const std::string& uuid = options.devices[slice].uuid;
  const nvmlReturn_t found =
      uuid.empty()
          ? (by_index != nullptr ? by_index(static_cast<unsigned int>(slice), &device)
                                 : NVML_ERROR_FUNCTION_NOT_FOUND)
          : (by_uuid != nullptr ? by_uuid(uuid.c_str(), &device) : NVML_ERROR_FUNCTION_NOT_FOUND);
  return found == NVML_SUCCESS ? device : nullptr;
}

}  // namespace gpuslice::preload::internal

namespace gpuslice::preload::internal {

std::optional<std::vector<nvmlProcessInfo_t>> GpuProcesses(const Options& options, int slice) {
  using ListFunction = nvmlReturn_t (*)(nvmlDevice_t, unsigned int*, nvmlProcessInfo_t*);
  static const ListFunction list = [] {
    // _v3 and _v2 fill the same record; drivers before R470 have only _v2.
    auto function = DriverFunction<ListFunction>("nvmlDeviceGetComputeRunningProcesses_v3");
    return function != nullptr
               ? function
               : DriverFunction<ListFunction>("nvmlDeviceGetComputeRunningProcesses_v2");
  }();
  nvmlDevice_t device = NvmlHandleOfSlice(options, slice);
  if (list == nullptr || device == nullptr) return std::nullopt;
  std::vector<nvmlProcessInfo_t> processes;
  // Processes may come and go between asking for the count and for the list.
  for (int attempt = 0; attempt < 4; ++attempt) {
    unsigned int count = static_cast<unsigned int>(processes.size());
    const nvmlReturn_t result = list(device, &count, processes.data());
    if (result == NVML_SUCCESS) {
      processes.resize(count);
      return processes;
    }
    if (result != NVML_ERROR_INSUFFICIENT_SIZE) return std::nullopt;
    processes.resize(count + 8);
  }
  return std::nullopt;
}

}  // namespace gpuslice::preload::internal
