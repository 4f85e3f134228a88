// How applications find the driver's functions, answered from the hook table: cuGetProcAddress
// and cuGetProcAddress_v2 (by name, CUDA version and flags, before or after cuInit), and dlsym
// for libraries that dlopen libcuda.so.1 or libnvidia-ml.so.1 themselves. The driver resolves
// first, so whatever it refuses stays refused and whatever is not hooked is its own function.
#include <dlfcn.h>

#include "core/abi/cuda.h"
#include "preload/hook_table.h"
#include "preload/hooks.h"
#include "preload/internal/hook_support.h"

namespace gpuslice::preload {
namespace {

// Replaces the driver's answer `*function` for `symbol` with the hook that stands in for it.
void SubstituteHook(const char* symbol, int cuda_version, cuuint64_t flags, void** function) {
  if (symbol == nullptr || function == nullptr || *function == nullptr ||
      !Runtime::Get().enforcing()) {
    return;
  }
  if (const HookEntry* entry = FindHookForRequest(HookTable(), symbol, cuda_version, flags)) {
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

// dlsym itself is the assembly entry point below; this is where it goes for every handle but
// RTLD_NEXT. A hooked name resolves to its hook only where it would have resolved to the
// driver's own function (or already to the hook), never where a library defines the name for
// itself.
extern "C" __attribute__((visibility("hidden"))) void* gpuslice_dlsym_intercept(void* handle,
                                                                                const char* symbol) {
  void* found = hooks::internal::NextDlsym()(handle, symbol);
  if (found == nullptr || symbol == nullptr || !hooks::Runtime::Get().enforcing()) return found;
  const hooks::HookEntry* entry = hooks::FindHookBySymbol(hooks::HookTable(), symbol);
  if (entry == nullptr || found == entry->hook) return found;
  return found == hooks::internal::RealFunction(*entry) ? entry->hook : found;
}

// glibc's dlsym resolves RTLD_NEXT relative to its caller's return address, so an RTLD_NEXT
// lookup must reach it by a jump that keeps the application's return address, never by a
// call from here (that would resolve relative to this library and could hand an interposer
// its own function back).
#if defined(__x86_64__)
asm(R"(
  .text
  .globl dlsym
  .type dlsym, @function
dlsym:
  cmpq $-1, %rdi
  jne 1f
  movq gpuslice_next_dlsym(%rip), %rax
  testq %rax, %rax
  je 1f
  jmp *%rax
1:
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
  b.ne 1f
  adrp x16, gpuslice_next_dlsym
  ldr x16, [x16, :lo12:gpuslice_next_dlsym]
  cbz x16, 1f
  br x16
1:
  b gpuslice_dlsym_intercept
  .size dlsym, .-dlsym
)");
#else
#error "libgpuslice's dlsym entry point is written for x86-64 and AArch64"
#endif
