// The one table of functions libgpuslice.so interposes. Every way an application reaches the
// driver or NVML (direct link, dlsym, cuGetProcAddress) is answered from it, so a hook added
// here is reachable by all of them and nothing else needs to list it.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace gpuslice::preload {

struct HookEntry {
  // The symbol the driver (or NVML) exports and the hook replaces, e.g. "cuMemAlloc_v2",
  // "cuLaunchKernel_ptsz", "nvmlDeviceGetMemoryInfo".
  const char* symbol;
  // The CUDA version from which cuGetProcAddress resolves the API name to this symbol
  // (cuMemAlloc: 2000 -> cuMemAlloc, 3020 -> cuMemAlloc_v2); 0 for NVML, which has no
  // cuGetProcAddress.
  int cuda_version;
  void* hook;
};

// The table, in no particular order. Defined in the shared library only (it points at the
// hooks); the lookups below take it as an argument so they are testable on their own.
std::span<const HookEntry> HookTable();

// "cuMemAlloc" for "cuMemAlloc_v2", "cuMemcpyHtoD" for "cuMemcpyHtoD_v2_ptds": the name an
// application asks cuGetProcAddress for.
std::string_view ApiName(std::string_view symbol);

// True for the per-thread default-stream variants (_ptds, _ptsz).
bool IsPerThreadVariant(std::string_view symbol);

// The entry of `table` whose exported symbol is `symbol`, or nullptr.
const HookEntry* FindHookBySymbol(std::span<const HookEntry> table, std::string_view symbol);

// The entry of `table` for a hook function, or nullptr.
const HookEntry* FindHookByFunction(std::span<const HookEntry> table, const void* hook);

// The entry cuGetProcAddress must answer with for a request of `name` at CUDA version
// `cuda_version` with `flags`, or nullptr when the driver's own function is the answer.
// Like the driver, picks the newest variant not newer than the requested version, the
// per-thread default-stream one when the flags ask for it and it exists.
const HookEntry* FindHookForRequest(std::span<const HookEntry> table, std::string_view name,
                                    int cuda_version, uint64_t flags);

}  // namespace gpuslice::preload
