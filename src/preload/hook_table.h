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

// The entry a driver no older than `cuda_version` resolves a cuGetProcAddress request of
// `name` at `cuda_version` with `flags` to, or nullptr when that variant is not hooked. Like
// the driver, picks the newest variant not newer than the requested version, the per-thread
// default-stream one when the flags ask for it and it exists.
const HookEntry* FindHookForRequest(std::span<const HookEntry> table, std::string_view name,
                                    int cuda_version, uint64_t flags);

// The driver's own function behind `entry`, or nullptr when the driver does not export it.
using RealFunctionLookup = void* (*)(const HookEntry& entry);

// The entry whose hook replaces `answer`, what the driver (of CUDA version `driver_version`)
// resolved a cuGetProcAddress request of `name` at `cuda_version` with `flags` to; nullptr
// when the answer stays the driver's. The hook is always that of the variant the driver
// picked, which an older driver may pick differently than the request alone says: the one
// whose function `answer` is, or (when the driver answers with a pointer of its own) the one
// FindHookForRequest picks up to the driver's version, if the driver exports it.
const HookEntry* FindHookForAnswer(std::span<const HookEntry> table, std::string_view name,
                                   int cuda_version, uint64_t flags, int driver_version,
                                   const void* answer, RealFunctionLookup real);

}  // namespace gpuslice::preload
