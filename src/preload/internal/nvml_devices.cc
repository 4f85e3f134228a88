#include "preload/internal/nvml_devices.h"

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
