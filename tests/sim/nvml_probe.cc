// Loads a simulated NVML the way the device plugin does (dlopen by path) in a fresh process
// and reports what nvmlInit and enumeration say, one "key=value" line each. Used by
// nvml_test.cc for cases that need their own environment.
#include <dlfcn.h>

#include <cstdio>

#include "core/abi/nvml.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s LIBRARY\n", argv[0]);
    return 2;
  }
  void* library = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr) {
    std::printf("dlopen=%s\n", dlerror());
    return 1;
  }
  auto init = reinterpret_cast<nvmlReturn_t (*)()>(dlsym(library, "nvmlInit_v2"));
  auto error = reinterpret_cast<const char* (*)()>(dlsym(library, "gpusliceSimNvmlInitError"));
  auto count =
      reinterpret_cast<nvmlReturn_t (*)(unsigned*)>(dlsym(library, "nvmlDeviceGetCount_v2"));
  auto handle = reinterpret_cast<nvmlReturn_t (*)(unsigned, nvmlDevice_t*)>(
      dlsym(library, "nvmlDeviceGetHandleByIndex_v2"));
  auto uuid = reinterpret_cast<nvmlReturn_t (*)(nvmlDevice_t, char*, unsigned)>(
      dlsym(library, "nvmlDeviceGetUUID"));
  auto minor = reinterpret_cast<nvmlReturn_t (*)(nvmlDevice_t, unsigned*)>(
      dlsym(library, "nvmlDeviceGetMinorNumber"));
  const nvmlReturn_t initialized = init();
  std::printf("init=%d\nerror=%s\n", static_cast<int>(initialized), error());
  if (initialized != NVML_SUCCESS) return 0;
  unsigned devices = 0;
  count(&devices);
  std::printf("count=%u\n", devices);
  for (unsigned i = 0; i < devices; ++i) {
    nvmlDevice_t device = nullptr;
    char text[NVML_DEVICE_UUID_V2_BUFFER_SIZE] = {};
    unsigned number = 0;
    handle(i, &device);
    uuid(device, text, sizeof(text));
    minor(device, &number);
    std::printf("device%u=%s minor %u\n", i, text, number);
  }
  return 0;
}
