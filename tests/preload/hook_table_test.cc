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

// Stand-ins for hooks and for the driver's functions: distinct addresses, one per entry.
char hook_functions[6];
char driver_functions[6];
#define ENTRY(index, symbol, version) \
  HookEntry { symbol, version, &hook_functions[index] }
const HookEntry kVariantTable[] = {
    ENTRY(0, "cuCtxCreate_v2", 3020),      ENTRY(1, "cuCtxCreate_v3", 11040),
    ENTRY(2, "cuCtxCreate_v4", 12050),     ENTRY(3, "cuLaunchKernel", 4000),
    ENTRY(4, "cuLaunchKernel_ptsz", 7000), ENTRY(5, "cuMemAlloc_v2", 3020),
};
#undef ENTRY

// What the driver under test exports: every variant up to its version.
int exported_up_to = 13000;

void* DriverFunctionOf(const HookEntry& entry) {
  if (entry.cuda_version > exported_up_to) return nullptr;
  return &driver_functions[&entry - kVariantTable];
}

const char* Answer(std::string_view name, int version, uint64_t flags, int driver_version,
                   const void* answer) {
  exported_up_to = driver_version;
  const HookEntry* entry = FindHookForAnswer(kVariantTable, name, version, flags, driver_version,
                                             answer, &DriverFunctionOf);
  return entry == nullptr ? nullptr : entry->symbol;
}

TEST(FindHookForAnswer, HooksTheVariantTheDriverAnsweredWith) {
  // A CUDA 12.4 driver asked for CUDA 12.8's cuCtxCreate answers with its newest, v3: the
  // hook must be v3's too, whose arguments the caller will pass.
  EXPECT_STREQ(Answer("cuCtxCreate", 12080, 0, 12040, &driver_functions[1]), "cuCtxCreate_v3");
  EXPECT_STREQ(Answer("cuCtxCreate", 13000, 0, 13000, &driver_functions[2]), "cuCtxCreate_v4");
  EXPECT_STREQ(Answer("cuLaunchKernel", 13000, CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM, 13000,
                      &driver_functions[4]),
               "cuLaunchKernel_ptsz");
  // An answer that is already the hook (the driver's table points at the interposed export).
  EXPECT_STREQ(Answer("cuMemAlloc", 13000, 0, 13000, &hook_functions[5]), "cuMemAlloc_v2");
}

TEST(FindHookForAnswer, HooksADriverPointerOfItsOwnByVersionUpToTheDriver) {
  char own_pointer = 0;  // not the export of any variant
  EXPECT_STREQ(Answer("cuCtxCreate", 13000, 0, 13000, &own_pointer), "cuCtxCreate_v4");
  EXPECT_STREQ(Answer("cuCtxCreate", 13000, 0, 12040, &own_pointer), "cuCtxCreate_v3");
  EXPECT_STREQ(Answer("cuCtxCreate", 11080, 0, 13000, &own_pointer), "cuCtxCreate_v3");
  EXPECT_STREQ(Answer("cuLaunchKernel", 13000, CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM, 13000,
                      &own_pointer),
               "cuLaunchKernel_ptsz");
  EXPECT_STREQ(Answer("cuMemAlloc", 13000, 0, 13000, &own_pointer), "cuMemAlloc_v2");
  EXPECT_EQ(Answer("cuMemcpy", 13000, 0, 13000, &own_pointer), nullptr);
}

TEST(FindHookForAnswer, NeverHooksAVariantTheDriverLacks) {
  char own_pointer = 0;
  // The driver says it is 13.0 but exports nothing past 12.4: v4's hook would have nothing to
  // call, so the driver's own answer stays.
  exported_up_to = 12040;
  EXPECT_EQ(FindHookForAnswer(kVariantTable, "cuCtxCreate", 13000, 0, 13000, &own_pointer,
                              &DriverFunctionOf),
            nullptr);
}

}  // namespace
}  // namespace gpuslice::preload
