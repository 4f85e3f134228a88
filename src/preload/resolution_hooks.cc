// How applications find the driver's functions, answered from the hook table: cuGetProcAddress
// and cuGetProcAddress_v2 (by name, CUDA version and flags, before or after cuInit), and dlsym
// for libraries that dlopen libcuda.so.1 or libnvidia-ml.so.1 themselves. The driver resolves
// first, so whatever it refuses stays refused and whatever is not hooked is its own function.
#include <dlfcn.h>

#include <climits>

#include "core/abi/cuda.h"
#include "preload/hook_table.h"
#include "preload/hooks.h"
#include "preload/internal/hook_support.h"

namespace gpuslice::preload {
namespace {

// The CUDA version of the driver, which knows no variant newer than itself; INT_MAX when it
// cannot say.
int DriverCudaVersion() {
  static const int version = [] {
    const auto get = internal::DriverFunction<decltype(&cuDriverGetVersion)>("cuDriverGetVersion");
    int found = 0;
    return get != nullptr && get(&found) == CUDA_SUCCESS && found > 0 ? found : INT_MAX;
  }();
  return version;
}

// Replaces the driver's answer `*function` for `symbol` with the hook that stands in for it.
void SubstituteHook(const char* symbol, int cuda_version, cuuint64_t flags, void** function) {
  if (symbol == nullptr || function == nullptr || *function == nullptr ||
      !Runtime::Get().enforcing()) {
    return;
  }
  if (const HookEntry* entry =
          FindHookForAnswer(HookTable(), symbol, cuda_version, flags, DriverCudaVersion(),
                            *function, &internal::RealFunction)) {
    *function = entry->hook;
  }
}

}  // namespace
}  // namespace gpuslice::preload

namespace hooks = gpuslice::preload;

GPUSLICE_HOOK CUresult cuGetProcAddress(const char* symbol, void** function, int cuda_version,
                                        cuuint64_t flags) {
  const CUresult result =
      hooks::internal::CallDriver<cuGetProcAddress>(symbol, function, cuda_version, flags);
  if (result == CUDA_SUCCESS) hooks::SubstituteHook(symbol, cuda_version, flags, function);
  return result;
}

GPUSLICE_HOOK CUresult cuGetProcAddress_v2(const char* symbol, void** function, int cuda_version,
                                           cuuint64_t flags,
                                           CUdriverProcAddressQueryResult* found) {
  const CUresult result = hooks::internal::CallDriver<cuGetProcAddress_v2>(
      symbol, function, cuda_version, flags, found);
  if (result == CUDA_SUCCESS) hooks::SubstituteHook(symbol, cuda_version, flags, function);
  return result;
}

namespace gpuslice::preload {
namespace {

// The hook `symbol` resolves to instead of `found`, or `found`. A hooked name resolves to its
// hook only where it would have resolved to the driver's own function (or already to the
// hook), never where a library defines the name for itself.
void* SubstituteDlsymResult(const char* symbol, void* found) {
  if (!Runtime::Get().enforcing()) return found;
  const HookEntry* entry = FindHookBySymbol(HookTable(), symbol);
  if (entry == nullptr || found == entry->hook) return found;
  return found == internal::RealFunction(*entry) ? entry->hook : found;
}

}  // namespace
}  // namespace gpuslice::preload

// dlsym itself is the assembly entry point below; this is where it goes for lookups in a
// handle. It may run before the library (or the sanitizer runtime) is initialized, so only
// names of the driver and NVML, which no loader or runtime looks up that early, go on to C++.
extern "C" __attribute__((visibility("hidden"))) [[gnu::no_sanitize("address", "undefined")]] void*
gpuslice_dlsym_intercept(void* handle, const char* symbol) {
  const auto next = gpuslice_resolve_next_dlsym();
  void* found = next != nullptr ? next(handle, symbol) : nullptr;
  if (found == nullptr || symbol == nullptr) return found;
  // Driver and NVML names are "cu" or "nvml" and a capital: cuMemAlloc, nvmlInit. Anything
  // else (curl_easy_init, cudaMalloc) never needs the C++ below.
  auto capital = [](char c) { return c >= 'A' && c <= 'Z'; };
  const bool driver_name =
      (symbol[0] == 'c' && symbol[1] == 'u' && capital(symbol[2])) ||
      (symbol[0] == 'n' && symbol[1] == 'v' && symbol[2] == 'm' && symbol[3] == 'l' &&
       capital(symbol[4]));
  return driver_name ? gpuslice::preload::SubstituteDlsymResult(symbol, found) : found;
}

// glibc's dlsym resolves RTLD_NEXT and RTLD_DEFAULT relative to its caller's return address
// (RTLD_NEXT: the objects after the caller; RTLD_DEFAULT: the global scope plus the caller's
// own dependencies, which for a library dlopened RTLD_LOCAL are not global). So both reach it
// by a jump that keeps the application's return address, never by a call from here. Neither
// needs intercepting: this library comes first in the global scope, so RTLD_DEFAULT finds its
// hooks anyway. Only lookups in a handle (a dlopened libcuda.so.1) go through the intercept.
#if defined(__x86_64__)
asm(R"(
  .text
  .globl dlsym
  .type dlsym, @function
dlsym:
  cmpq $-1, %rdi
  je 3f
  testq %rdi, %rdi
  jne 2f
3:
  movq gpuslice_next_dlsym(%rip), %rax
  testq %rax, %rax
  jne 1f
  pushq %rdi
  pushq %rsi
  subq $8, %rsp
  call gpuslice_resolve_next_dlsym
  addq $8, %rsp
  popq %rsi
  popq %rdi
  testq %rax, %rax
  je 2f
1:
  jmp *%rax
2:
  jmp gpuslice_dlsym_intercept
  .size dlsym, .-dlsym
)");
#elif defined(__aarch64__)
asm(R"(
  .text
  .globl dlsym
  .type dlsym, %function
dlsym:
  cmn x0, #1
  b.eq 3f
  cbnz x0, 2f
3:
  stp x29, x30, [sp, #-32]!
  mov x29, sp
  stp x0, x1, [sp, #16]
  bl gpuslice_resolve_next_dlsym
  mov x16, x0
  ldp x0, x1, [sp, #16]
  ldp x29, x30, [sp], #32
  cbz x16, 2f
  br x16
2:
  b gpuslice_dlsym_intercept
  .size dlsym, .-dlsym
)");
#else
#error "libgpuslice's dlsym entry point is written for x86-64 and AArch64"
#endif
