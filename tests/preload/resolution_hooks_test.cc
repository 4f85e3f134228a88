// Every way a client reaches the driver comes back hooked for the memory, memory-info,
// context and launch entry points and untouched for everything else: the CUDA runtime's 440
// cuGetProcAddress_v2 requests, every recorded CUDA version of the hooked APIs (with and
// without the per-thread default-stream flag, and against drivers older than the runtime),
// and cuBLAS's dlsym names; dlsym(RTLD_DEFAULT) still answers in the caller's scope.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "preload/client_process.h"
#include "preload/sim_fixture.h"

namespace gpuslice::testing {
namespace {

// What the library must hook, written down independently of its hook table.
const std::set<std::string> kHookedApis = {
    // memory information
    "cuMemGetInfo", "cuDeviceTotalMem",
    // allocation paths and their frees
    "cuMemAlloc", "cuMemAllocPitch", "cuMemAllocManaged", "cuMemFree", "cuMemAllocAsync",
    "cuMemAllocFromPoolAsync", "cuMemFreeAsync", "cuMemPoolDestroy", "cuMemCreate", "cuMemRelease",
    // physical memory stays in use while mapped or retained
    "cuMemRetainAllocationHandle", "cuMemMap", "cuMemUnmap", "cuMemAddressFree",
    "cuMemImportFromShareableHandle", "cuMemMapArrayAsync", "cuArrayCreate", "cuArray3DCreate",
    "cuArrayDestroy", "cuMipmappedArrayCreate", "cuMipmappedArrayDestroy", "cuGraphAddMemAllocNode",
    "cuGraphAddNode", "cuGraphDestroy", "cuDeviceGraphMemTrim",
    // graph memory stays charged while an executable graph or a capture holds it
    "cuGraphInstantiate", "cuGraphInstantiateWithFlags", "cuGraphInstantiateWithParams",
    "cuGraphExecDestroy", "cuStreamEndCapture",
    // the driver's own memory: contexts, modules and libraries, limits
    "cuCtxCreate", "cuDevicePrimaryCtxRetain", "cuCtxSetLimit", "cuModuleLoad", "cuModuleLoadData",
    "cuModuleLoadDataEx", "cuModuleLoadFatBinary", "cuLibraryLoadData", "cuLibraryLoadFromFile",
    // launches
    "cuLaunch", "cuLaunchGrid", "cuLaunchGridAsync", "cuLaunchKernel", "cuLaunchKernelEx",
    "cuLaunchCooperativeKernel", "cuLaunchCooperativeKernelMultiDevice", "cuGraphLaunch",
    // lookup itself
    "cuGetProcAddress"};

std::string SourceFile(const std::string& relative) {
  return std::string(GPUSLICE_SOURCE_DIR) + "/" + relative;
}

struct Answer {
  std::string request;  // name@version[/ptds]
  std::string result;
  std::string library;
  std::string symbol;
};

std::vector<Answer> Parse(const std::vector<std::string>& lines) {
  std::vector<Answer> answers;
  for (const std::string& line : lines) {
    std::istringstream in(line);
    Answer answer;
    in >> answer.request >> answer.result >> answer.library >> answer.symbol;
    answers.push_back(answer);
  }
  return answers;
}

std::string NameOf(const std::string& request) {
  std::string name = request.substr(0, request.find('@'));
  return name == "\"\"" ? "" : name;
}

// Checks the preloaded client's `answers` against the `driver`'s own to the same requests:
// a hooked API the driver resolves comes back as the hook of the very variant the driver
// picked for that version and those flags; everything else is the driver's answer. Returns
// how many came back hooked.
int ExpectHookedExactlyWhereTheyMust(const std::vector<Answer>& driver,
                                     const std::vector<Answer>& answers) {
  EXPECT_EQ(answers.size(), driver.size());
  int hooked_count = 0;
  for (size_t i = 0; i < answers.size() && i < driver.size(); ++i) {
    const Answer& got = answers[i];
    const Answer& own = driver[i];
    EXPECT_EQ(got.request, own.request);
    EXPECT_EQ(got.result, own.result) << got.request;
    if (kHookedApis.contains(NameOf(got.request)) && own.result == "0") {
      ++hooked_count;
      EXPECT_EQ(got.library, "libgpuslice.so") << got.request << " is not hooked";
      EXPECT_EQ(got.symbol, own.symbol) << got.request;
    } else {
      EXPECT_EQ(got.library + " " + got.symbol, own.library + " " + own.symbol)
          << got.request << " must be the driver's own function";
    }
  }
  return hooked_count;
}

std::string AnswerTo(const std::vector<Answer>& answers, const std::string& request) {
  for (const Answer& answer : answers) {
    if (answer.request == request) return answer.result + " " + answer.symbol;
  }
  return "no answer";
}

class ResolutionTest : public SimFixture {};

TEST_F(ResolutionTest, CudartRequestsComeBackHookedExactlyWhereTheyMust) {
  const std::string requests = SourceFile("src/sim/data/cudart13_getprocaddress_requests.txt");
  auto plain = ClientProcess::Start(kCudartClient, node(), SliceEnv(), /*preload=*/false);
  auto hooked = ClientProcess::Start(kCudartClient, node(), SliceEnv());
  ASSERT_TRUE(plain && hooked);
  // Replayed before cuInit, as the runtime does.
  const std::vector<Answer> driver = Parse(plain->SendForLines("replay " + requests));
  const std::vector<Answer> answers = Parse(hooked->SendForLines("replay " + requests));
  ASSERT_EQ(driver.size(), 440u);
  EXPECT_GE(ExpectHookedExactlyWhereTheyMust(driver, answers), 30);
}

// A CUDA runtime newer than the driver (CUDA's minor-version compatibility) asks for variants
// the driver does not have, and the driver answers with its own newest: cuCtxCreate_v3 for
// CUDA 13's cuCtxCreate. The hook must be that variant's, since the caller passes that
// variant's arguments, and exist where the driver has one.
TEST_F(ResolutionTest, AnOlderDriverGetsTheHookOfTheVariantItAnswersWith) {
  for (const std::string driver_version : {"11.8", "12.2"}) {
    SCOPED_TRACE("CUDA " + driver_version + " driver");
    SimNode older("");
    const std::string spec = older.directory() + "/spec.yaml";
    std::ofstream(spec) << "version: v1\n"
                        << "cudaVersion: \"" << driver_version << "\"\n"
                        << "gpus:\n"
                        << "  - model: A100-40GB\n"
                        << "    uuid: " << kUuid << "\n";
    older.set_spec(spec);
    // Every hooked API as a CUDA 13 runtime asks for it, with and without per-thread streams.
    const std::string requests = older.directory() + "/requests.txt";
    {
      std::ofstream out(requests);
      for (const std::string& name : kHookedApis)
        out << name << "@13000\n" << name << "@13000/ptds\n";
    }
    auto plain = ClientProcess::Start(kCudartClient, older,
                                      SliceEnvironment(older, kUuid, kSliceBytes), false);
    auto hooked =
        ClientProcess::Start(kCudartClient, older, SliceEnvironment(older, kUuid, kSliceBytes));
    ASSERT_TRUE(plain && hooked);
    const std::vector<Answer> driver = Parse(plain->SendForLines("replay " + requests));
    const std::vector<Answer> answers = Parse(hooked->SendForLines("replay " + requests));
    ASSERT_EQ(driver.size(), 2 * kHookedApis.size());
    ASSERT_EQ(AnswerTo(driver, "cuCtxCreate@13000"), "0 cuCtxCreate_v3");
    EXPECT_GE(ExpectHookedExactlyWhereTheyMust(driver, answers), 40);
  }
}

TEST_F(ResolutionTest, EveryRecordedVersionOfAHookedApiResolvesToItsHook) {
  std::ifstream versions(SourceFile("src/sim/data/cuda13_entry_point_versions.txt"));
  ASSERT_TRUE(versions);
  const std::string requests = node().directory() + "/hooked-requests.txt";
  std::ofstream out(requests);
  std::vector<std::string> expected;
  std::string line;
  while (std::getline(versions, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string name, version, third, symbol;
    fields >> name >> version >> third;
    const bool per_thread = third == "ptds";
    symbol = per_thread ? (fields >> symbol, symbol) : third;
    if (!kHookedApis.contains(name)) continue;
    out << name << "@" << version << (per_thread ? "/ptds" : "") << "\n";
    expected.push_back(symbol);
  }
  out.close();
  ASSERT_GT(expected.size(), 40u);

  auto client = ClientProcess::Start(kCudartClient, node(), SliceEnv());
  ASSERT_TRUE(client);
  const std::vector<Answer> answers = Parse(client->SendForLines("replay " + requests));
  ASSERT_EQ(answers.size(), expected.size());
  for (size_t i = 0; i < answers.size(); ++i) {
    if (answers[i].result != "0") continue;  // the simulated driver may not model an old variant
    EXPECT_EQ(answers[i].library, "libgpuslice.so") << answers[i].request;
    EXPECT_EQ(answers[i].symbol, expected[i]) << answers[i].request;
  }
}

TEST_F(ResolutionTest, CublasDlsymNamesComeBackHookedExactlyWhereTheyMust) {
  const std::string names = SourceFile("src/sim/data/cublas13_dlsym_names.txt");
  auto plain = ClientProcess::Start(kCublasClient, node(), SliceEnv(), /*preload=*/false);
  auto hooked = ClientProcess::Start(kCublasClient, node(), SliceEnv());
  ASSERT_TRUE(plain && hooked);
  const std::vector<std::string> driver = plain->SendForLines("dlsym " + names);
  const std::vector<std::string> answers = hooked->SendForLines("dlsym " + names);
  ASSERT_GE(driver.size(), 32u);
  ASSERT_EQ(answers.size(), driver.size());
  for (size_t i = 0; i < answers.size(); ++i) {
    std::istringstream got(answers[i]), own(driver[i]);
    std::string name, library, symbol, own_name, own_library, own_symbol;
    got >> name >> library >> symbol;
    own >> own_name >> own_library >> own_symbol;
    // Unsuffixed legacy names (cuCtxPushCurrent) are other functions than the current ones.
    if (kHookedApis.contains(name) || name == "cuGetProcAddress_v2") {
      EXPECT_EQ(library, "libgpuslice.so") << name;
      EXPECT_EQ(symbol, own_symbol) << name;
    } else {
      EXPECT_EQ(library + " " + symbol, own_library + " " + own_symbol) << name;
    }
  }
}

// glibc answers dlsym(RTLD_DEFAULT) in the scope of the object that calls it: the global
// scope and, for a library dlopened RTLD_LOCAL (a Python extension module, say), that
// library's own dependencies. Preloaded, the library must leave that scope the caller's, and
// still hand out its hooks, since it comes first in the global scope.
TEST_F(ResolutionTest, DlsymDefaultAnswersInTheCallersScope) {
  auto plain = ClientProcess::Start(kScopeClient, node(), SliceEnv(), /*preload=*/false);
  auto hooked = ClientProcess::Start(kScopeClient, node(), SliceEnv());
  ASSERT_TRUE(plain && hooked);
  const std::string lookups[] = {
      "default gpuslice_scope_client_marker",     // the executable's own
      "default cuDeviceGet",                      // the driver it links, not hooked
      "default _ZSt4cout",                        // the C++ library it links
      "module gpuslice_scope_dependency_marker",  // the module's dependency, in its scope only
      "module gpuslice_scope_module_marker",      // the module's own
  };
  for (const std::string& lookup : lookups) {
    const std::string own = plain->Send(lookup);
    EXPECT_NE(own, "- -") << lookup;
    EXPECT_EQ(hooked->Send(lookup), own) << lookup;
  }
  // Outside the module its dependency is not global, preloaded or not.
  EXPECT_EQ(plain->Send("default gpuslice_scope_dependency_marker"), "- -");
  EXPECT_EQ(hooked->Send("default gpuslice_scope_dependency_marker"), "- -");

  EXPECT_EQ(plain->Send("default cuMemAlloc_v2"), "libcuda.so.1 cuMemAlloc_v2");
  EXPECT_EQ(hooked->Send("default cuMemAlloc_v2"), "libgpuslice.so cuMemAlloc_v2");
  EXPECT_EQ(hooked->Send("module cuMemAlloc_v2"), "libgpuslice.so cuMemAlloc_v2");
}

TEST_F(ResolutionTest, WithoutLimitsTheLibraryChangesNoAnswer) {
  const std::string requests = SourceFile("src/sim/data/cudart13_getprocaddress_requests.txt");
  auto plain = ClientProcess::Start(kCudartClient, node(), {}, /*preload=*/false);
  auto unlimited =
      ClientProcess::Start(kCudartClient, node(), {{"NVIDIA_VISIBLE_DEVICES", Uuid()}});
  Environment off = SliceEnv();
  off["GPUSLICE_DISABLE"] = "1";
  auto switched_off = ClientProcess::Start(kCudartClient, node(), off);
  ASSERT_TRUE(plain && unlimited && switched_off);
  const std::vector<std::string> driver = plain->SendForLines("replay " + requests);
  EXPECT_EQ(unlimited->SendForLines("replay " + requests), driver);
  EXPECT_EQ(switched_off->SendForLines("replay " + requests), driver);
}

}  // namespace
}  // namespace gpuslice::testing
