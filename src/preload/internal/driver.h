// The real driver and NVML behind the hooks: loaded on first use, looked up with the C
// library's own dlsym (libgpuslice.so overrides dlsym for everyone else).
#pragma once

#include "preload/hook_table.h"

namespace gpuslice::preload::internal {
using DlsymFunction = void* (*)(void*, const char*);
}  // namespace gpuslice::preload::internal

// The C library's dlsym, looked up on first use; null only where the C library has none.
extern "C" gpuslice::preload::internal::DlsymFunction gpuslice_resolve_next_dlsym();

namespace gpuslice::preload::internal {

// The driver's (or NVML's) own function behind `entry`, or nullptr when the driver does not
// export it or cannot be loaded. Loads libcuda.so.1 / libnvidia-ml.so.1 on first use.
void* RealFunction(const HookEntry& entry);

// The real function a hook stands in for, typed like the hook; looked up once per hook.
// REQUIRES: Hook is in the hook table.
template <auto Hook>
decltype(Hook) Real() {
  static const auto real = reinterpret_cast<decltype(Hook)>(
      RealFunction(*FindHookByFunction(HookTable(), reinterpret_cast<void*>(Hook))));
  return real;
}

// A driver or NVML function ("nvml" names come from NVML), or nullptr when it cannot be had.
// Looked up on every call: callers keep the result.
void* DriverSymbol(const char* symbol);

// DriverSymbol typed as `Function`, e.g. DriverFunction<decltype(&cuCtxGetDevice)>(...).
template <typename Function>
Function DriverFunction(const char* symbol) {
  return reinterpret_cast<Function>(DriverSymbol(symbol));
}

}  // namespace gpuslice::preload::internal
