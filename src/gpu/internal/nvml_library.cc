#include "gpu/internal/nvml_library.h"

#include <dlfcn.h>

namespace gpuslice::gpu::internal {
namespace {

// Binds `*slot` to the symbol `name`, keeping the slot's own function type.
template <typename Fn>
bool Bind(void* handle, const char* name, Fn* slot) {
  *slot = reinterpret_cast<Fn>(dlsym(handle, name));
  return *slot != nullptr;
}

}  // namespace

Result<std::unique_ptr<NvmlLibrary>> NvmlLibrary::Load(const std::string& library) {
  std::unique_ptr<NvmlLibrary> nvml(new NvmlLibrary());
  nvml->handle_ = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (nvml->handle_ == nullptr) {
    const char* reason = dlerror();
    return Status::Unavailable("cannot load NVML library \"" + library + "\": " +
                               (reason != nullptr ? reason : "unknown loader error") +
                               " (is the NVIDIA driver installed on this node?)");
  }
  void* h = nvml->handle_;
  NvmlLibrary& n = *nvml;
  const char* missing = nullptr;
  auto require = [&](const char* name, auto* slot) {
    if (!Bind(h, name, slot) && missing == nullptr) missing = name;
  };
  require("nvmlInit_v2", &n.Init);
  require("nvmlShutdown", &n.Shutdown);
  require("nvmlErrorString", &n.ErrorString);
  require("nvmlDeviceGetCount_v2", &n.DeviceGetCount);
  require("nvmlDeviceGetHandleByIndex_v2", &n.DeviceGetHandleByIndex);
  require("nvmlDeviceGetHandleByUUID", &n.DeviceGetHandleByUUID);
  require("nvmlDeviceGetUUID", &n.DeviceGetUUID);
  require("nvmlDeviceGetName", &n.DeviceGetName);
  require("nvmlDeviceGetMemoryInfo", &n.DeviceGetMemoryInfo);
  require("nvmlDeviceGetMinorNumber", &n.DeviceGetMinorNumber);
  require("nvmlDeviceGetPciInfo_v3", &n.DeviceGetPciInfo);
  require("nvmlDeviceGetSupportedEventTypes", &n.DeviceGetSupportedEventTypes);
  require("nvmlEventSetCreate", &n.EventSetCreate);
  require("nvmlDeviceRegisterEvents", &n.DeviceRegisterEvents);
  require("nvmlEventSetWait_v2", &n.EventSetWait);
  require("nvmlEventSetFree", &n.EventSetFree);
  Bind(h, "nvmlDeviceGetNumaNodeId", &n.DeviceGetNumaNodeId);
  Bind(h, "nvmlDeviceGetCudaComputeCapability", &n.DeviceGetCudaComputeCapability);
  Bind(h, "nvmlSystemGetDriverVersion", &n.SystemGetDriverVersion);
  if (!Bind(h, "nvmlSystemGetCudaDriverVersion_v2", &n.SystemGetCudaDriverVersion)) {
    Bind(h, "nvmlSystemGetCudaDriverVersion", &n.SystemGetCudaDriverVersion);
  }
  Bind(h, "nvmlDeviceGetMigMode", &n.DeviceGetMigMode);
  Bind(h, "nvmlDeviceGetProcessUtilization", &n.DeviceGetProcessUtilization);
  if (missing != nullptr) {
    return Status::Unavailable("NVML library \"" + library + "\" lacks " + missing +
                               " (the driver is too old for gpuslice)");
  }
  const nvmlReturn_t ret = n.Init();
  if (ret != NVML_SUCCESS) {
    return Status::Unavailable("NVML library \"" + library + "\": " +
                               n.Describe("nvmlInit_v2", ret));
  }
  n.initialized_ = true;
  return nvml;
}

NvmlLibrary::~NvmlLibrary() {
  // The library itself stays mapped: NVML implementations keep process-wide state (the
  // simulated one a singleton) that must not be unmapped under other users in the process.
  if (initialized_) Shutdown();
}

std::string NvmlLibrary::Describe(const char* function, nvmlReturn_t ret) const {
  const char* text = ErrorString != nullptr ? ErrorString(ret) : nullptr;
  return std::string(function) + ": " +
         (text != nullptr ? text : "NVML error " + std::to_string(static_cast<int>(ret)));
}

}  // namespace gpuslice::gpu::internal
