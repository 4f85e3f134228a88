#include "preload/internal/driver.h"

#include <dlfcn.h>

#include <atomic>
#include <string_view>

// Used by the dlsym entry point (resolution_hooks.cc), which is assembly, hence C linkage.
// dlsym can be called before any constructor of this library has run (the ASan runtime and
// other preloaded libraries resolve their functions from theirs), so the C library's dlsym
// is looked up on first use, by code that needs nothing initialized: no sanitizer checks,
// no C++ runtime. Threads racing here all store the same pointer.
extern "C" {
gpuslice::preload::internal::DlsymFunction gpuslice_next_dlsym = nullptr;

[[gnu::no_sanitize("address", "undefined")]] gpuslice::preload::internal::DlsymFunction
gpuslice_resolve_next_dlsym() {
  using gpuslice::preload::internal::DlsymFunction;
  DlsymFunction next = __atomic_load_n(&gpuslice_next_dlsym, __ATOMIC_ACQUIRE);
  if (next != nullptr) return next;
  // dlsym moved from libdl to libc in glibc 2.34; older C libraries only have the first version.
  next = reinterpret_cast<DlsymFunction>(dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.34"));
#if defined(__x86_64__)
  if (next == nullptr)
    next = reinterpret_cast<DlsymFunction>(dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.2.5"));
#elif defined(__aarch64__)
  if (next == nullptr)
    next = reinterpret_cast<DlsymFunction>(dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.17"));
#endif
  __atomic_store_n(&gpuslice_next_dlsym, next, __ATOMIC_RELEASE);
  return next;
}
}

namespace gpuslice::preload::internal {
namespace {

constexpr const char* kDriverLibrary = "libcuda.so.1";
constexpr const char* kNvmlLibrary = "libnvidia-ml.so.1";

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

}  // namespace

void* DriverSymbol(const char* symbol) {
  void* library = Library(symbol);
  const DlsymFunction next = gpuslice_resolve_next_dlsym();
  return library == nullptr || next == nullptr ? nullptr : next(library, symbol);
}

void* RealFunction(const HookEntry& entry) { return DriverSymbol(entry.symbol); }

}  // namespace gpuslice::preload::internal
