#include "preload/hook_table.h"

#include <cstring>

#include "core/abi/cuda.h"
#include "core/abi/nvml.h"

namespace gpuslice::preload {
namespace {

template <typename Function>
constexpr HookEntry Hook(const char* symbol, int cuda_version, Function* hook) {
  return HookEntry{symbol, cuda_version, reinterpret_cast<void*>(hook)};
}

// Versions are those at which the driver's cuGetProcAddress starts answering the API name
// with that symbol (the CUDA release that introduced it, as cuda.h's versioned macros say).
const HookEntry kHooks[] = {
    // Entry-point lookup: a request for cuGetProcAddress itself gets the hook.
    Hook("cuGetProcAddress", 11030, &cuGetProcAddress),
    Hook("cuGetProcAddress_v2", 12000, &cuGetProcAddress_v2),

    // What the slice looks like.
    Hook("cuMemGetInfo", 2000, &cuMemGetInfo),
    Hook("cuMemGetInfo_v2", 3020, &cuMemGetInfo_v2),
    Hook("cuDeviceTotalMem", 2000, &cuDeviceTotalMem),
    Hook("cuDeviceTotalMem_v2", 3020, &cuDeviceTotalMem_v2),
    Hook("nvmlDeviceGetMemoryInfo", 0, &nvmlDeviceGetMemoryInfo),
    Hook("nvmlDeviceGetMemoryInfo_v2", 0, &nvmlDeviceGetMemoryInfo_v2),

    // Contexts: their device memory counts against the slice.
    Hook("cuDevicePrimaryCtxRetain", 7000, &cuDevicePrimaryCtxRetain),
    Hook("cuCtxCreate_v2", 3020, &cuCtxCreate_v2),
    Hook("cuCtxCreate_v3", 11040, &cuCtxCreate_v3),
    Hook("cuCtxCreate_v4", 12050, &cuCtxCreate_v4),

    // Every allocation path and its free.
    Hook("cuMemAlloc", 2000, &cuMemAlloc),
    Hook("cuMemAlloc_v2", 3020, &cuMemAlloc_v2),
    Hook("cuMemAllocPitch", 2000, &cuMemAllocPitch),
    Hook("cuMemAllocPitch_v2", 3020, &cuMemAllocPitch_v2),
    Hook("cuMemAllocManaged", 6000, &cuMemAllocManaged),
    Hook("cuMemFree", 2000, &cuMemFree),
    Hook("cuMemFree_v2", 3020, &cuMemFree_v2),
    Hook("cuMemAllocAsync", 11020, &cuMemAllocAsync),
    Hook("cuMemAllocAsync_ptsz", 11020, &cuMemAllocAsync_ptsz),
    Hook("cuMemAllocFromPoolAsync", 11020, &cuMemAllocFromPoolAsync),
    Hook("cuMemAllocFromPoolAsync_ptsz", 11020, &cuMemAllocFromPoolAsync_ptsz),
    Hook("cuMemFreeAsync", 11020, &cuMemFreeAsync),
    Hook("cuMemFreeAsync_ptsz", 11020, &cuMemFreeAsync_ptsz),
    Hook("cuMemCreate", 10020, &cuMemCreate),
    Hook("cuMemRelease", 10020, &cuMemRelease),
    Hook("cuArrayCreate", 2000, &cuArrayCreate),
    Hook("cuArrayCreate_v2", 3020, &cuArrayCreate_v2),
    Hook("cuArray3DCreate", 2000, &cuArray3DCreate),
    Hook("cuArray3DCreate_v2", 3020, &cuArray3DCreate_v2),
    Hook("cuArrayDestroy", 2000, &cuArrayDestroy),
    Hook("cuMipmappedArrayCreate", 5000, &cuMipmappedArrayCreate),
    Hook("cuMipmappedArrayDestroy", 5000, &cuMipmappedArrayDestroy),
    Hook("cuGraphAddMemAllocNode", 11040, &cuGraphAddMemAllocNode),
    Hook("cuGraphAddNode", 12020, &cuGraphAddNode),
    Hook("cuGraphAddNode_v2", 12030, &cuGraphAddNode_v2),
    Hook("cuGraphDestroy", 10000, &cuGraphDestroy),

    // Every launch path.
    Hook("cuLaunchKernel", 4000, &cuLaunchKernel),
    Hook("cuLaunchKernel_ptsz", 7000, &cuLaunchKernel_ptsz),
    Hook("cuLaunchKernelEx", 11060, &cuLaunchKernelEx),
    Hook("cuLaunchKernelEx_ptsz", 11060, &cuLaunchKernelEx_ptsz),
    Hook("cuLaunchCooperativeKernel", 9000, &cuLaunchCooperativeKernel),
    Hook("cuLaunchCooperativeKernel_ptsz", 9000, &cuLaunchCooperativeKernel_ptsz),
    Hook("cuLaunchCooperativeKernelMultiDevice", 9000, &cuLaunchCooperativeKernelMultiDevice),
    Hook("cuGraphLaunch", 10000, &cuGraphLaunch),
    Hook("cuGraphLaunch_ptsz", 10000, &cuGraphLaunch_ptsz),
};

bool EndsWith(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

}  // namespace

std::span<const HookEntry> HookTable() { return kHooks; }

bool IsPerThreadVariant(std::string_view symbol) {
  return EndsWith(symbol, "_ptds") || EndsWith(symbol, "_ptsz");
}

std::string_view ApiName(std::string_view symbol) {
  if (IsPerThreadVariant(symbol)) symbol.remove_suffix(5);
  const size_t suffix = symbol.rfind("_v");
  if (suffix != std::string_view::npos && suffix + 2 < symbol.size() &&
      symbol.find_first_not_of("0123456789", suffix + 2) == std::string_view::npos) {
    symbol = symbol.substr(0, suffix);
  }
  return symbol;
}

const HookEntry* FindHookBySymbol(std::string_view symbol) {
  for (const HookEntry& entry : kHooks) {
    if (symbol == entry.symbol) return &entry;
  }
  return nullptr;
}

const HookEntry* FindHookByFunction(const void* hook) {
  for (const HookEntry& entry : kHooks) {
    if (entry.hook == hook) return &entry;
  }
  return nullptr;
}

const HookEntry* FindHookForRequest(std::string_view name, int cuda_version, uint64_t flags) {
  const bool per_thread = (flags & CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM) != 0;
  const HookEntry* best[2] = {nullptr, nullptr};  // [default stream, per-thread stream]
  for (const HookEntry& entry : kHooks) {
    if (entry.cuda_version == 0 || entry.cuda_version > cuda_version) continue;
    if (ApiName(entry.symbol) != name) continue;
    const HookEntry*& slot = best[IsPerThreadVariant(entry.symbol) ? 1 : 0];
    if (slot == nullptr || entry.cuda_version > slot->cuda_version) slot = &entry;
  }
  if (per_thread && best[1] != nullptr) return best[1];
  return best[0];
}

}  // namespace gpuslice::preload
