#include "preload/hook_table.h"

#include <gtest/gtest.h>

#include <string>

#include "core/abi/cuda_types.h"

namespace gpuslice::preload {
namespace {

TEST(ApiName, StripsVersionAndStreamSuffixes) {
  EXPECT_EQ(ApiName("cuMemAlloc_v2"), "cuMemAlloc");
  EXPECT_EQ(ApiName("cuMemcpyHtoD_v2_ptds"), "cuMemcpyHtoD");
  EXPECT_EQ(ApiName("cuLaunchKernel_ptsz"), "cuLaunchKernel");
  EXPECT_EQ(ApiName("cuCtxCreate_v4"), "cuCtxCreate");
  EXPECT_EQ(ApiName("cuMemAlloc"), "cuMemAlloc");
  EXPECT_EQ(ApiName("cuGraphExecUpdate_v"), "cuGraphExecUpdate_v");
  EXPECT_TRUE(IsPerThreadVariant("cuGraphLaunch_ptsz"));
  EXPECT_FALSE(IsPerThreadVariant("cuGraphLaunch"));
}

int Placeholder(int) { return 0; }

// A table like the library's, for the lookups alone.
#define ENTRY(symbol, version) \
  HookEntry { symbol, version, reinterpret_cast<void*>(&Placeholder) }
const HookEntry kTable[] = {
    ENTRY("cuMemAlloc", 2000),           ENTRY("cuMemAlloc_v2", 3020),
    ENTRY("cuCtxCreate_v2", 3020),       ENTRY("cuCtxCreate_v3", 11040),
    ENTRY("cuCtxCreate_v4", 12050),      ENTRY("cuLaunchKernel", 4000),
    ENTRY("cuLaunchKernel_ptsz", 7000),  ENTRY("cuLaunchKernelEx", 11060),
    ENTRY("nvmlDeviceGetMemoryInfo", 0),
};
#undef ENTRY

const char* Find(std::string_view name, int version, uint64_t flags) {
  const HookEntry* entry = FindHookForRequest(kTable, name, version, flags);
  return entry == nullptr ? nullptr : entry->symbol;
}

TEST(FindHookBySymbol, FindsExactExportedNames) {
  EXPECT_EQ(FindHookBySymbol(kTable, "cuMemAlloc_v2"), &kTable[1]);
  EXPECT_EQ(FindHookBySymbol(kTable, "cuMemAlloc_v3"), nullptr);
  EXPECT_EQ(FindHookByFunction(kTable, reinterpret_cast<void*>(&Placeholder)), &kTable[0]);
}

TEST(FindHookForRequest, PicksTheNewestVariantNotNewerThanAsked) {
  EXPECT_STREQ(Find("cuMemAlloc", 2000, 0), "cuMemAlloc");
  EXPECT_STREQ(Find("cuMemAlloc", 3020, 0), "cuMemAlloc_v2");
  EXPECT_STREQ(Find("cuMemAlloc", 13000, 0), "cuMemAlloc_v2");
  EXPECT_STREQ(Find("cuCtxCreate", 12050, 0), "cuCtxCreate_v4");
  EXPECT_STREQ(Find("cuCtxCreate", 12040, 0), "cuCtxCreate_v3");
  EXPECT_EQ(Find("cuLaunchKernelEx", 11050, 0), nullptr);
  EXPECT_EQ(Find("cuMemcpy", 13000, 0), nullptr);
  EXPECT_EQ(Find("nvmlDeviceGetMemoryInfo", 13000, 0), nullptr);
}

TEST(FindHookForRequest, HonoursThePerThreadDefaultStreamFlag) {
  constexpr uint64_t kPerThread = CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM;
  EXPECT_STREQ(Find("cuLaunchKernel", 7000, kPerThread), "cuLaunchKernel_ptsz");
  EXPECT_STREQ(Find("cuLaunchKernel", 7000, CU_GET_PROC_ADDRESS_LEGACY_STREAM), "cuLaunchKernel");
  // Before per-thread variants existed, and for APIs without one, the default variant.
  EXPECT_STREQ(Find("cuLaunchKernel", 6050, kPerThread), "cuLaunchKernel");
  EXPECT_STREQ(Find("cuMemAlloc", 3020, kPerThread), "cuMemAlloc_v2");
}

}  // namespace
}  // namespace gpuslice::preload
