#include "preload/internal/driver.h"

#include <dlfcn.h>

#include <atomic>
#include <string_view>

// Read by the dlsym entry point (resolution_hooks.cc), which is assembly, hence C linkage.
extern "C" {
gpuslice::preload::internal::DlsymFunction gpuslice_next_dlsym = nullptr;
}

namespace gpuslice::preload::internal {
namespace {

constexpr const char* kDriverLibrary = "libcuda.so.1";
constexpr const char* kNvmlLibrary = "libnvidia-ml.so.1";

DlsymFunction ResolveNextDlsym() {
  // dlsym moved from libdl to libc in glibc 2.34; older C libraries only have the first version.
#if defined(__x86_64__)
  constexpr const char* kVersions[] = {"GLIBC_2.34", "GLIBC_2.2.5"};
#elif defined(__aarch64__)
  constexpr const char* kVersions[] = {"GLIBC_2.34", "GLIBC_2.17"};
#endif
  for (const char* version : kVersions) {
    if (void* found = dlvsym(RTLD_NEXT, "dlsym", version)) {
      return reinterpret_cast<DlsymFunction>(found);
    }
  }
  return nullptr;
}

void* Library(const char* symbol) {
  static std::atomic<void*> driver{nullptr};
  static std::atomic<void*> nvml{nullptr};
  const bool is_nvml = std::string_view(symbol).starts_with("nvml");
  std::atomic<void*>& handle = is_nvml ? nvml : driver;
  void* loaded = handle.load(std::memory_order_acquire);
  if (loaded == nullptr) {
    // Two threads may both open it; dlopen counts references, so either handle is good.
    loaded = dlopen(is_nvml ? kNvmlLibrary : kDriverLibrary, RTLD_LAZY | RTLD_LOCAL);
    if (loaded != nullptr) handle.store(loaded, std::memory_order_release);
  }
  return loaded;
}

// Resolved before main; a library constructor that calls dlsym earlier still gets it lazily.
[[gnu::constructor(101)]] void ResolveAtLoad() {
  gpuslice_next_dlsym = ResolveNextDlsym();
}

}  // namespace

DlsymFunction NextDlsym() {
  if (gpuslice_next_dlsym == nullptr) gpuslice_next_dlsym = ResolveNextDlsym();
  return gpuslice_next_dlsym;
}

void* DriverSymbol(const char* symbol) {
  void* library = Library(symbol);
  return library == nullptr ? nullptr : NextDlsym()(library, symbol);
}

void* RealFunction(const HookEntry& entry) { return DriverSymbol(entry.symbol); }

}  // namespace gpuslice::preload::internal
