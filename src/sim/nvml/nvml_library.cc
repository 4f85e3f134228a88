// Initialization, error strings and system queries of the simulated NVML.
#include "sim/nvml/nvml_library.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "sim/environment.h"

namespace gpuslice::sim::nvml {

NvmlLibrary& NvmlLibrary::Get() {
  static NvmlLibrary* library = new NvmlLibrary();  // never destroyed: handles outlive exit
  return *library;
}

nvmlReturn_t NvmlLibrary::Init() {
  std::lock_guard<std::mutex> lock(mutex_);
  // Like the real NVML, initializing again after a full shutdown discovers the node anew:
  // the environment may name another state file by now.
  if (init_count_.load(std::memory_order_acquire) == 0) {
    if (state_ != nullptr) retired_states_.push_back(std::move(state_));
    Result<OpenedState> opened = OpenStateFromEnvironment();
    const std::optional<std::string> devices = ContainerVisibleDevices();
    Result<std::vector<int>> visible =
        opened.ok() ? VisibleGpus(*opened->state, devices ? devices->c_str() : nullptr)
                    : Result<std::vector<int>>(opened.status());
    Result<unsigned int> pid_offset =
        HostPidOffset(std::getenv(std::string(kHostPidOffsetEnv).c_str()));
    if (!visible.ok() || !pid_offset.ok()) {
      init_error_ = !visible.ok() ? visible.status().message() : pid_offset.status().message();
      // Logged once per distinct reason: a plugin retrying nvmlInit must not flood its log.
      if (init_error_ != logged_error_) {
        std::fprintf(stderr, "gpuslice-sim-nvml: nvmlInit failed: %s\n", init_error_.c_str());
        logged_error_ = init_error_;
      }
      return NVML_ERROR_DRIVER_NOT_LOADED;
    }
    if (!opened->warning.empty()) {
      std::fprintf(stderr, "gpuslice-sim-nvml: %s\n", opened->warning.c_str());
    }
    state_ = std::move(opened->state);
    visible_ = std::move(*visible);
    pid_offset_ = *pid_offset;
    for (size_t i = 0; i < visible_.size(); ++i) {
      handles_[i] = {static_cast<int>(i), visible_[i]};
    }
  }
  init_error_.clear();
  init_count_.fetch_add(1, std::memory_order_acq_rel);
  return NVML_SUCCESS;
}

nvmlReturn_t NvmlLibrary::Shutdown() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (init_count_.load(std::memory_order_acquire) == 0) return NVML_ERROR_UNINITIALIZED;
  init_count_.fetch_sub(1, std::memory_order_acq_rel);
  return NVML_SUCCESS;
}

nvmlReturn_t NvmlLibrary::Resolve(nvmlDevice_t device, int* gpu) const {
  if (!initialized()) return NVML_ERROR_UNINITIALIZED;
  if (device < &handles_[0] || device >= &handles_[visible_.size()]) {
    return NVML_ERROR_INVALID_ARGUMENT;
  }
  if (state_->IsLost(device->gpu)) return NVML_ERROR_GPU_IS_LOST;
  *gpu = device->gpu;
  return NVML_SUCCESS;
}

nvmlDevice_t NvmlLibrary::HandleOfGpu(int gpu) {
  for (size_t i = 0; i < visible_.size(); ++i) {
    if (visible_[i] == gpu) return &handles_[i];
  }
  return nullptr;
}

std::string NvmlLibrary::init_error() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return init_error_;
}

nvmlReturn_t CopyOut(const std::string& text, char* buffer, unsigned int length) {
  if (buffer == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  if (length < text.size() + 1) return NVML_ERROR_INSUFFICIENT_SIZE;
  std::memcpy(buffer, text.c_str(), text.size() + 1);
  return NVML_SUCCESS;
}

}  // namespace gpuslice::sim::nvml

using gpuslice::sim::nvml::CopyOut;
using gpuslice::sim::nvml::NvmlLibrary;

GPUSLICE_NVML_EXPORT nvmlReturn_t nvmlInit_v2() { return NvmlLibrary::Get().Init(); }
GPUSLICE_NVML_EXPORT nvmlReturn_t nvmlInit() { return NvmlLibrary::Get().Init(); }

GPUSLICE_NVML_EXPORT nvmlReturn_t nvmlInitWithFlags(unsigned int flags) {
  if ((flags & ~static_cast<unsigned>(NVML_INIT_FLAG_NO_GPUS | NVML_INIT_FLAG_NO_ATTACH)) != 0) {
    return NVML_ERROR_INVALID_ARGUMENT;
  }
  return NvmlLibrary::Get().Init();
}

GPUSLICE_NVML_EXPORT nvmlReturn_t nvmlShutdown() { return NvmlLibrary::Get().Shutdown(); }

// Why the last nvmlInit of this process failed, or "" (a gpuslice addition: NVML itself has
// no way to tell, and a misconfigured simulation should say what is wrong).
GPUSLICE_NVML_EXPORT const char* gpusliceSimNvmlInitError() {
  static thread_local std::string error;
  error = NvmlLibrary::Get().init_error();
  return error.c_str();
}

GPUSLICE_NVML_EXPORT const char* nvmlErrorString(nvmlReturn_t result) {
  switch (result) {
    case NVML_SUCCESS:
      return "Success";
    case NVML_ERROR_UNINITIALIZED:
      return "Uninitialized";
    case NVML_ERROR_INVALID_ARGUMENT:
      return "Invalid Argument";
    case NVML_ERROR_NOT_SUPPORTED:
      return "Not Supported";
    case NVML_ERROR_NO_PERMISSION:
      return "Insufficient Permissions";
    case NVML_ERROR_ALREADY_INITIALIZED:
      return "Already Initialized";
    case NVML_ERROR_NOT_FOUND:
      return "Not Found";
    case NVML_ERROR_INSUFFICIENT_SIZE:
      return "Insufficient Size";
    case NVML_ERROR_INSUFFICIENT_POWER:
      return "Insufficient External Power";
    case NVML_ERROR_DRIVER_NOT_LOADED:
      return "Driver Not Loaded";
    case NVML_ERROR_TIMEOUT:
      return "Timeout";
    case NVML_ERROR_IRQ_ISSUE:
      return "Interrupt Request Issue";
    case NVML_ERROR_LIBRARY_NOT_FOUND:
      return "NVML Shared Library Not Found";
    case NVML_ERROR_FUNCTION_NOT_FOUND:
      return "Function Not Found";
    case NVML_ERROR_CORRUPTED_INFOROM:
      return "Corrupted infoROM";
    case NVML_ERROR_GPU_IS_LOST:
      return "GPU is lost";
    case NVML_ERROR_RESET_REQUIRED:
      return "GPU requires restart";
    case NVML_ERROR_OPERATING_SYSTEM:
      return "GPU access blocked by the operating system";
    case NVML_ERROR_LIB_RM_VERSION_MISMATCH:
      return "Driver/library version mismatch";
    case NVML_ERROR_IN_USE:
      return "In use by another client";
    case NVML_ERROR_MEMORY:
      return "Insufficient Memory";
    case NVML_ERROR_NO_DATA:
      return "No data";
    case NVML_ERROR_VGPU_ECC_NOT_ENABLED:
      return "ECC is not enabled";
    case NVML_ERROR_INSUFFICIENT_RESOURCES:
      return "Insufficient resources";
    case NVML_ERROR_FREQ_NOT_SUPPORTED:
      return "Frequency not supported";
    case NVML_ERROR_ARGUMENT_VERSION_MISMATCH:
      return "Argument version mismatch";
    case NVML_ERROR_DEPRECATED:
      return "Deprecated";
    case NVML_ERROR_NOT_READY:
      return "Not ready";
    case NVML_ERROR_GPU_NOT_FOUND:
      return "GPU not found";
    case NVML_ERROR_INVALID_STATE:
      return "Invalid state";
    case NVML_ERROR_UNKNOWN:
      return "Unknown Error";
  }
  return "Unknown Error";
}

GPUSLICE_NVML_EXPORT nvmlReturn_t nvmlSystemGetDriverVersion(char* version, unsigned int length) {
  NvmlLibrary& library = NvmlLibrary::Get();
  if (!library.initialized()) return NVML_ERROR_UNINITIALIZED;
  return CopyOut(library.state().driver_version(), version, length);
}

GPUSLICE_NVML_EXPORT nvmlReturn_t nvmlSystemGetNVMLVersion(char* version, unsigned int length) {
  NvmlLibrary& library = NvmlLibrary::Get();
  if (!library.initialized()) return NVML_ERROR_UNINITIALIZED;
  // NVML's own version is "<CUDA major>.<driver version>", e.g. "13.580.65.06".
  return CopyOut(std::to_string(library.state().cuda_version() / 1000) + "." +
                     library.state().driver_version(),
                 version, length);
}

GPUSLICE_NVML_EXPORT nvmlReturn_t nvmlSystemGetCudaDriverVersion(int* version) {
  NvmlLibrary& library = NvmlLibrary::Get();
  if (!library.initialized()) return NVML_ERROR_UNINITIALIZED;
  if (version == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  *version = library.state().cuda_version();
  return NVML_SUCCESS;
}

GPUSLICE_NVML_EXPORT nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int* version) {
  return nvmlSystemGetCudaDriverVersion(version);
}
