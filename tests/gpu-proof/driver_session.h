// What the proof kit's driver-API program shares between its subcommands: the result lines it
// prints, its arguments, and a Session on device 0 of the driver. Subcommands that print
// RESULT lines report every outcome there; Fail() is for what stops the program (exit 2: bad
// arguments, 3: no usable driver or GPU).
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include "driver_table.h"

namespace gpuslice::proof {

inline constexpr uint64_t kMiB = 1ULL << 20;

inline void Report(const std::string& check, const char* result, const std::string& figure,
                   const std::string& detail) {
  std::printf("RESULT\t%s\t%s\t%s\t%s\n", check.c_str(), result, figure.c_str(), detail.c_str());
  std::fflush(stdout);
}

inline std::string Mib(uint64_t bytes) { return std::to_string(bytes / kMiB) + " MiB"; }

[[noreturn]] inline void Fail(int code, const std::string& message) {
  std::fprintf(stderr, "gpu_proof_driver: %s\n", message.c_str());
  std::exit(code);
}

// --name value pairs after the subcommand; flags without a value map to "".
using Arguments = std::map<std::string, std::string>;

inline uint64_t Number(const Arguments& arguments, const std::string& name, bool required,
                       uint64_t fallback = 0) {
  auto found = arguments.find(name);
  if (found == arguments.end()) {
    if (required) Fail(2, "missing --" + name);
    return fallback;
  }
  char* end = nullptr;
  errno = 0;
  const unsigned long long value = std::strtoull(found->second.c_str(), &end, 10);
  if (found->second.empty() || *end != '\0' || errno != 0 || found->second[0] == '-') {
    Fail(2, "--" + name + " '" + found->second + "' is not a whole number");
  }
  return value;
}

class Session {
 public:
  // Loads the driver and makes device 0's primary context current; exits 3 when it cannot.
  Session() {
    if (std::string error = LoadDriver(&driver_); !error.empty()) Fail(3, error);
    Must(api().init(0), "cuInit");
    int count = 0;
    Must(api().device_get_count(&count), "cuDeviceGetCount");
    if (count < 1) Fail(3, "the driver shows no GPU");
    Must(api().device_get(&device_, 0), "cuDeviceGet");
    Must(api().primary_ctx_retain(&context_, device_), "cuDevicePrimaryCtxRetain");
    Must(api().ctx_set_current(context_), "cuCtxSetCurrent");
  }

  const DriverTable& api() const { return driver_.api; }
  const Driver& driver() const { return driver_; }
  CUdevice device() const { return device_; }
  std::string Error(CUresult result) const { return ErrorText(driver_, result); }

  void Must(CUresult result, const char* what) const {
    if (result != CUDA_SUCCESS) Fail(3, std::string(what) + ": " + Error(result));
  }

  size_t Free() const {
    size_t free = 0, total = 0;
    api().mem_get_info(&free, &total);
    return free;
  }

  int Attribute(CUdevice_attribute attribute) const {
    int value = 0;
    api().device_get_attribute(&value, attribute, device_);
    return value;
  }

  std::string Uuid() const {
    CUuuid uuid{};
    if (api().device_get_uuid(&uuid, device_) != CUDA_SUCCESS) return "";
    const auto* b = reinterpret_cast<const unsigned char*>(uuid.bytes);
    char text[64];
    std::snprintf(text, sizeof(text),
                  "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
                  b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
                  b[14], b[15]);
    return text;
  }

  CUfunction Kernel(const char* name) {
    if (module_ == nullptr) Must(api().module_load_data(&module_, kProofPtx), "cuModuleLoadData");
    CUfunction function = nullptr;
    Must(api().module_get_function(&function, module_, name), "cuModuleGetFunction");
    return function;
  }

 private:
  Driver driver_;
  CUdevice device_ = 0;
  CUcontext context_ = nullptr;
  CUmodule module_ = nullptr;
};

// The subcommands of driver_memory.cc (see driver_check.cc for what each does).
int RunMemory(const Arguments& arguments);
int RunHold(const Arguments& arguments);
int RunProcesses(const Arguments& arguments);

}  // namespace gpuslice::proof
