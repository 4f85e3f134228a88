// The simulated NVML loaded the way the device plugin loads NVML (dlopen by path), checked
// against the shared state it reports from: enumeration and identity, memory, processes,
// utilization, health, XID events delivered to several processes at once, and what a
// misconfigured simulation answers.
#include "core/abi/nvml.h"

#include <dlfcn.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "fakes/temp_dir.h"
#include "sim/child_process.h"
#include "sim/environment.h"
#include "sim/internal/clock.h"
#include "sim/process_account.h"
#include "sim/state.h"
#include "sim/state_surgery.h"

namespace gpuslice::sim {
namespace {

using ::gpuslice::testing::ChildProcess;
using ::testing::HasSubstr;

const std::string kLibrary = std::string(GPUSLICE_LIB_DIR) + "/libgpuslice-sim-nvml.so";
const std::string kProbe = std::string(GPUSLICE_BIN_DIR) + "/sim_nvml_probe";
constexpr const char* kSpec = "2xH100-80GB,1xT4";

// The entry points, looked up like the plugin's NVML backend does.
struct Nvml {
  nvmlReturn_t (*Init)();
  nvmlReturn_t (*Shutdown)();
  const char* (*ErrorString)(nvmlReturn_t);
  nvmlReturn_t (*SystemGetDriverVersion)(char*, unsigned);
  nvmlReturn_t (*SystemGetCudaDriverVersion_v2)(int*);
  nvmlReturn_t (*DeviceGetCount)(unsigned*);
  nvmlReturn_t (*DeviceGetHandleByIndex)(unsigned, nvmlDevice_t*);
  nvmlReturn_t (*DeviceGetHandleByUUID)(const char*, nvmlDevice_t*);
  nvmlReturn_t (*DeviceGetIndex)(nvmlDevice_t, unsigned*);
  nvmlReturn_t (*DeviceGetUUID)(nvmlDevice_t, char*, unsigned);
  nvmlReturn_t (*DeviceGetName)(nvmlDevice_t, char*, unsigned);
  nvmlReturn_t (*DeviceGetMemoryInfo)(nvmlDevice_t, nvmlMemory_t*);
  nvmlReturn_t (*DeviceGetMemoryInfo_v2)(nvmlDevice_t, nvmlMemory_v2_t*);
  nvmlReturn_t (*DeviceGetMinorNumber)(nvmlDevice_t, unsigned*);
  nvmlReturn_t (*DeviceGetPciInfo_v3)(nvmlDevice_t, nvmlPciInfo_t*);
  nvmlReturn_t (*DeviceGetNumaNodeId)(nvmlDevice_t, unsigned*);
  nvmlReturn_t (*DeviceGetSupportedEventTypes)(nvmlDevice_t, unsigned long long*);
  nvmlReturn_t (*EventSetCreate)(nvmlEventSet_t*);
  nvmlReturn_t (*DeviceRegisterEvents)(nvmlDevice_t, unsigned long long, nvmlEventSet_t);
  nvmlReturn_t (*EventSetWait_v2)(nvmlEventSet_t, nvmlEventData_t*, unsigned);
  nvmlReturn_t (*EventSetFree)(nvmlEventSet_t);
  nvmlReturn_t (*DeviceGetUtilizationRates)(nvmlDevice_t, nvmlUtilization_t*);
  nvmlReturn_t (*DeviceGetComputeRunningProcesses)(nvmlDevice_t, unsigned*, nvmlProcessInfo_v1_t*);
  nvmlReturn_t (*DeviceGetComputeRunningProcesses_v3)(nvmlDevice_t, unsigned*, nvmlProcessInfo_t*);
  nvmlReturn_t (*DeviceGetProcessUtilization)(nvmlDevice_t, nvmlProcessUtilizationSample_t*,
                                              unsigned*, unsigned long long);
};

template <typename T>
void Load(void* library, const char* name, T* function) {
  *function = reinterpret_cast<T>(dlsym(library, name));
  ASSERT_NE(*function, nullptr) << name;
}

// One simulated node for the whole suite: the library reads the environment at the first
// nvmlInit (and again only after a full shutdown), as NVML reads the driver's state.
class NvmlTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new ::gpuslice::testing::TempDir();
    setenv(std::string(kStateEnv).c_str(), dir_->Sub("node.state").c_str(), 1);
    setenv(std::string(kSpecEnv).c_str(), kSpec, 1);
    unsetenv(std::string(kVisibleDevicesEnv).c_str());
    void* library = dlopen(kLibrary.c_str(), RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(library, nullptr) << dlerror();
    Load(library, "nvmlInit_v2", &nvml_.Init);
    Load(library, "nvmlShutdown", &nvml_.Shutdown);
    Load(library, "nvmlErrorString", &nvml_.ErrorString);
    Load(library, "nvmlSystemGetDriverVersion", &nvml_.SystemGetDriverVersion);
    Load(library, "nvmlSystemGetCudaDriverVersion_v2", &nvml_.SystemGetCudaDriverVersion_v2);
    Load(library, "nvmlDeviceGetCount_v2", &nvml_.DeviceGetCount);
    Load(library, "nvmlDeviceGetHandleByIndex_v2", &nvml_.DeviceGetHandleByIndex);
    Load(library, "nvmlDeviceGetHandleByUUID", &nvml_.DeviceGetHandleByUUID);
    Load(library, "nvmlDeviceGetIndex", &nvml_.DeviceGetIndex);
    Load(library, "nvmlDeviceGetUUID", &nvml_.DeviceGetUUID);
    Load(library, "nvmlDeviceGetName", &nvml_.DeviceGetName);
    Load(library, "nvmlDeviceGetMemoryInfo", &nvml_.DeviceGetMemoryInfo);
    Load(library, "nvmlDeviceGetMemoryInfo_v2", &nvml_.DeviceGetMemoryInfo_v2);
    Load(library, "nvmlDeviceGetMinorNumber", &nvml_.DeviceGetMinorNumber);
    Load(library, "nvmlDeviceGetPciInfo_v3", &nvml_.DeviceGetPciInfo_v3);
    Load(library, "nvmlDeviceGetNumaNodeId", &nvml_.DeviceGetNumaNodeId);
    Load(library, "nvmlDeviceGetSupportedEventTypes", &nvml_.DeviceGetSupportedEventTypes);
    Load(library, "nvmlEventSetCreate", &nvml_.EventSetCreate);
    Load(library, "nvmlDeviceRegisterEvents", &nvml_.DeviceRegisterEvents);
    Load(library, "nvmlEventSetWait_v2", &nvml_.EventSetWait_v2);
    Load(library, "nvmlEventSetFree", &nvml_.EventSetFree);
    Load(library, "nvmlDeviceGetUtilizationRates", &nvml_.DeviceGetUtilizationRates);
    Load(library, "nvmlDeviceGetComputeRunningProcesses", &nvml_.DeviceGetComputeRunningProcesses);
    Load(library, "nvmlDeviceGetComputeRunningProcesses_v3",
         &nvml_.DeviceGetComputeRunningProcesses_v3);
    Load(library, "nvmlDeviceGetProcessUtilization", &nvml_.DeviceGetProcessUtilization);
    ASSERT_EQ(nvml_.Init(), NVML_SUCCESS);
    Result<std::unique_ptr<SimState>> state = SimState::Open(dir_->Sub("node.state"));
    ASSERT_TRUE(state.ok()) << state.status().ToString();
    state_ = state->release();
  }

  static void TearDownTestSuite() {
    nvml_.Shutdown();
    delete state_;
    delete dir_;
  }

  nvmlDevice_t Device(unsigned index) {
    nvmlDevice_t device = nullptr;
    EXPECT_EQ(nvml_.DeviceGetHandleByIndex(index, &device), NVML_SUCCESS);
    return device;
  }

  static ::gpuslice::testing::TempDir* dir_;
  static Nvml nvml_;
  static SimState* state_;
};

::gpuslice::testing::TempDir* NvmlTest::dir_ = nullptr;
Nvml NvmlTest::nvml_{};
SimState* NvmlTest::state_ = nullptr;

TEST_F(NvmlTest, EnumeratesTheSpecsGpusWithTheirIdentity) {
  unsigned count = 0;
  ASSERT_EQ(nvml_.DeviceGetCount(&count), NVML_SUCCESS);
  ASSERT_EQ(count, 3u);
  for (unsigned i = 0; i < count; ++i) {
    nvmlDevice_t device = Device(i);
    const GpuSpec& gpu = state_->gpu(static_cast<int>(i));
    char text[NVML_DEVICE_NAME_V2_BUFFER_SIZE] = {};
    ASSERT_EQ(nvml_.DeviceGetUUID(device, text, sizeof(text)), NVML_SUCCESS);
    EXPECT_EQ(text, gpu.uuid);
    nvmlDevice_t by_uuid = nullptr;
    EXPECT_EQ(nvml_.DeviceGetHandleByUUID(text, &by_uuid), NVML_SUCCESS);
    EXPECT_EQ(by_uuid, device);
    ASSERT_EQ(nvml_.DeviceGetName(device, text, sizeof(text)), NVML_SUCCESS);
    EXPECT_EQ(text, gpu.name);
    unsigned value = 0;
    EXPECT_EQ(nvml_.DeviceGetIndex(device, &value), NVML_SUCCESS);
    EXPECT_EQ(value, i);
    EXPECT_EQ(nvml_.DeviceGetMinorNumber(device, &value), NVML_SUCCESS);
    EXPECT_EQ(value, static_cast<unsigned>(gpu.minor));
    EXPECT_EQ(nvml_.DeviceGetNumaNodeId(device, &value), NVML_SUCCESS);
    EXPECT_EQ(value, static_cast<unsigned>(gpu.numa_node));
    nvmlPciInfo_t pci;
    ASSERT_EQ(nvml_.DeviceGetPciInfo_v3(device, &pci), NVML_SUCCESS);
    EXPECT_EQ(pci.busId, gpu.pci_bus_id);
    EXPECT_EQ(std::string(pci.busIdLegacy), gpu.pci_bus_id.substr(4));
    EXPECT_EQ(pci.pciDeviceId, gpu.pci_device_id);
  }
  char name[NVML_DEVICE_NAME_V2_BUFFER_SIZE];
  EXPECT_EQ(nvml_.DeviceGetName(Device(2), name, sizeof(name)), NVML_SUCCESS);
  EXPECT_STREQ(name, "Tesla T4");
  EXPECT_EQ(nvml_.DeviceGetName(Device(2), name, 4), NVML_ERROR_INSUFFICIENT_SIZE);
  nvmlDevice_t none = nullptr;
  EXPECT_EQ(nvml_.DeviceGetHandleByIndex(3, &none), NVML_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(nvml_.DeviceGetHandleByUUID("GPU-00000000-0000-0000-0000-000000000000", &none),
            NVML_ERROR_NOT_FOUND);
  EXPECT_EQ(nvml_.DeviceGetUUID(reinterpret_cast<nvmlDevice_t>(&none), name, sizeof(name)),
            NVML_ERROR_INVALID_ARGUMENT);
}

TEST_F(NvmlTest, ReportsTheSystemVersions) {
  char version[NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE];
  ASSERT_EQ(nvml_.SystemGetDriverVersion(version, sizeof(version)), NVML_SUCCESS);
  EXPECT_STREQ(version, "580.65.06");
  int cuda = 0;
  ASSERT_EQ(nvml_.SystemGetCudaDriverVersion_v2(&cuda), NVML_SUCCESS);
  EXPECT_EQ(cuda, 13000);
  EXPECT_STREQ(nvml_.ErrorString(NVML_ERROR_GPU_IS_LOST), "GPU is lost");
}

TEST_F(NvmlTest, InitNestsAndShutdownEndsIt) {
  ASSERT_EQ(nvml_.Init(), NVML_SUCCESS);
  ASSERT_EQ(nvml_.Shutdown(), NVML_SUCCESS);
  unsigned count = 0;
  EXPECT_EQ(nvml_.DeviceGetCount(&count), NVML_SUCCESS);  // still initialized once
  ASSERT_EQ(nvml_.Shutdown(), NVML_SUCCESS);
  EXPECT_EQ(nvml_.DeviceGetCount(&count), NVML_ERROR_UNINITIALIZED);
  EXPECT_EQ(nvml_.Shutdown(), NVML_ERROR_UNINITIALIZED);
  ASSERT_EQ(nvml_.Init(), NVML_SUCCESS);
}

TEST_F(NvmlTest, InitAfterAFullShutdownReadsTheEnvironmentAgain) {
  ASSERT_EQ(nvml_.Shutdown(), NVML_SUCCESS);
  setenv(std::string(kStateEnv).c_str(), dir_->Sub("second.state").c_str(), 1);
  setenv(std::string(kSpecEnv).c_str(), "1xT4", 1);
  ASSERT_EQ(nvml_.Init(), NVML_SUCCESS);
  unsigned count = 0;
  EXPECT_EQ(nvml_.DeviceGetCount(&count), NVML_SUCCESS);
  EXPECT_EQ(count, 1u);
  // Back to the suite's node for the other tests.
  ASSERT_EQ(nvml_.Shutdown(), NVML_SUCCESS);
  setenv(std::string(kStateEnv).c_str(), dir_->Sub("node.state").c_str(), 1);
  setenv(std::string(kSpecEnv).c_str(), kSpec, 1);
  ASSERT_EQ(nvml_.Init(), NVML_SUCCESS);
  EXPECT_EQ(nvml_.DeviceGetCount(&count), NVML_SUCCESS);
  EXPECT_EQ(count, 3u);
}

TEST_F(NvmlTest, MemoryAndProcessesComeFromEveryProcessUsingTheGpu) {
  ChildProcess child = ChildProcess::Fork([&](ChildProcess& self) {
    auto state = SimState::Open(dir_->Sub("node.state"));
    auto account = ProcessAccount::Register(state->get());
    if (!account.ok() || !(*account)->Reserve(1, 3ULL << 30).ok()) return 1;
    self.Say("ready");
    pause();
    return 0;
  });
  ASSERT_EQ(child.ReadLine(), "ready");
  nvmlDevice_t device = Device(1);
  nvmlMemory_t memory;
  ASSERT_EQ(nvml_.DeviceGetMemoryInfo(device, &memory), NVML_SUCCESS);
  EXPECT_EQ(memory.total, state_->gpu(1).memory_bytes);
  EXPECT_EQ(memory.used, 3ULL << 30);
  EXPECT_EQ(memory.free, memory.total - memory.used);
  nvmlMemory_v2_t memory2{};
  EXPECT_EQ(nvml_.DeviceGetMemoryInfo_v2(device, &memory2), NVML_ERROR_ARGUMENT_VERSION_MISMATCH);
  memory2.version = nvmlMemory_v2;
  ASSERT_EQ(nvml_.DeviceGetMemoryInfo_v2(device, &memory2), NVML_SUCCESS);
  EXPECT_EQ(memory2.used, 3ULL << 30);

  unsigned count = 0;
  ASSERT_EQ(nvml_.DeviceGetComputeRunningProcesses_v3(device, &count, nullptr),
            NVML_ERROR_INSUFFICIENT_SIZE);
  ASSERT_EQ(count, 1u);
  nvmlProcessInfo_t infos[4];
  count = 4;
  ASSERT_EQ(nvml_.DeviceGetComputeRunningProcesses_v3(device, &count, infos), NVML_SUCCESS);
  ASSERT_EQ(count, 1u);
  EXPECT_EQ(infos[0].pid, static_cast<unsigned>(child.pid()));
  EXPECT_EQ(infos[0].usedGpuMemory, 3ULL << 30);
  EXPECT_EQ(infos[0].gpuInstanceId, 0xFFFFFFFFu);
  nvmlProcessInfo_v1_t old_infos[4];
  count = 4;
  ASSERT_EQ(nvml_.DeviceGetComputeRunningProcesses(device, &count, old_infos), NVML_SUCCESS);
  EXPECT_EQ(old_infos[0].usedGpuMemory, 3ULL << 30);

  child.Kill();
  child.Wait();
  ASSERT_EQ(nvml_.DeviceGetMemoryInfo(device, &memory), NVML_SUCCESS);
  EXPECT_EQ(memory.used, 0u);
  count = 4;
  ASSERT_EQ(nvml_.DeviceGetComputeRunningProcesses_v3(device, &count, infos), NVML_SUCCESS);
  EXPECT_EQ(count, 0u);
}

// As NVML in a pod does: processes are named by the driver's (the host's) PIDs.
TEST_F(NvmlTest, ReportsPidsOfAnotherNamespaceWhenAsked) {
  ChildProcess child = ChildProcess::Fork([&](ChildProcess& self) {
    auto state = SimState::Open(dir_->Sub("node.state"));
    auto account = ProcessAccount::Register(state->get());
    if (!account.ok() || !(*account)->Reserve(0, 1ULL << 30).ok()) return 1;
    self.Say("ready");
    pause();
    return 0;
  });
  ASSERT_EQ(child.ReadLine(), "ready");
  ASSERT_EQ(nvml_.Shutdown(), NVML_SUCCESS);
  setenv(std::string(kHostPidOffsetEnv).c_str(), "100000", 1);
  ASSERT_EQ(nvml_.Init(), NVML_SUCCESS);
  nvmlProcessInfo_t infos[4];
  unsigned count = 4;
  const nvmlReturn_t listed = nvml_.DeviceGetComputeRunningProcesses_v3(Device(0), &count, infos);
  ASSERT_EQ(nvml_.Shutdown(), NVML_SUCCESS);
  unsetenv(std::string(kHostPidOffsetEnv).c_str());
  ASSERT_EQ(nvml_.Init(), NVML_SUCCESS);
  const unsigned pid = static_cast<unsigned>(child.pid());
  child.Kill();
  child.Wait();
  ASSERT_EQ(listed, NVML_SUCCESS);
  ASSERT_EQ(count, 1u);
  EXPECT_EQ(infos[0].pid, pid + 100000);
}

TEST_F(NvmlTest, UtilizationShowsKernelTime) {
  auto account = ProcessAccount::Register(state_);
  ASSERT_TRUE(account.ok());
  // Keep the T4 busy for a stretch and wait for it to end.
  const uint64_t end = (*account)->ScheduleKernel(2, 0, 300'000'000);
  internal::SleepUntil(end);
  nvmlUtilization_t utilization{};
  ASSERT_EQ(nvml_.DeviceGetUtilizationRates(Device(2), &utilization), NVML_SUCCESS);
  EXPECT_GT(utilization.gpu, 0u);
  EXPECT_LE(utilization.gpu, 100u);
  ASSERT_EQ(nvml_.DeviceGetUtilizationRates(Device(0), &utilization), NVML_SUCCESS);
  EXPECT_EQ(utilization.gpu, 0u);
}

// Per-process samples cover each process's time without gaps, so summing sample period times
// utilization gives back the kernel time it ran, to within the percent rounding.
TEST_F(NvmlTest, ProcessUtilizationSamplesAddUpToTheKernelTimeThatRan) {
  auto account = ProcessAccount::Register(state_);
  ASSERT_TRUE(account.ok());
  (*account)->AddContext(1);
  nvmlDevice_t device = Device(1);
  auto sample = [&](unsigned long long after, nvmlProcessUtilizationSample_t* mine) {
    unsigned count = 0;
    nvmlReturn_t result = nvml_.DeviceGetProcessUtilization(device, nullptr, &count, after);
    if (result == NVML_ERROR_NOT_FOUND) return false;
    EXPECT_EQ(result, NVML_ERROR_INSUFFICIENT_SIZE);
    std::vector<nvmlProcessUtilizationSample_t> samples(count);
    EXPECT_EQ(nvml_.DeviceGetProcessUtilization(device, samples.data(), &count, after),
              NVML_SUCCESS);
    for (unsigned i = 0; i < count; ++i) {
      if (samples[i].pid == static_cast<unsigned>(getpid())) *mine = samples[i];
    }
    return true;
  };
  // Open a window, run 200 ms of kernels, and wait for them and the next sampling period.
  nvmlProcessUtilizationSample_t first{}, second{};
  internal::SleepUntil(internal::MonotonicNs() + SimState::kProcessSamplePeriodNs);
  ASSERT_TRUE(sample(0, &first));
  ASSERT_NE(first.timeStamp, 0u);
  const uint64_t end = (*account)->ScheduleKernel(1, 0, 200'000'000);
  internal::SleepUntil(std::max(end, internal::MonotonicNs() + SimState::kProcessSamplePeriodNs));
  ASSERT_TRUE(sample(first.timeStamp, &second));
  ASSERT_GT(second.timeStamp, first.timeStamp);
  const double window_us = static_cast<double>(second.timeStamp - first.timeStamp);
  const double ran_us = window_us * second.smUtil / 100.0;
  EXPECT_NEAR(ran_us, 200'000.0, window_us / 200 + 1000);
  nvmlProcessUtilizationSample_t none{};
  EXPECT_FALSE(sample(second.timeStamp, &none));  // nothing newer yet
}

TEST_F(NvmlTest, ALostGpuAnswersGpuIsLostUntilItRecovers) {
  nvmlDevice_t device = Device(1);
  ASSERT_TRUE(state_->SetLost(1, true).ok());
  nvmlMemory_t memory;
  EXPECT_EQ(nvml_.DeviceGetMemoryInfo(device, &memory), NVML_ERROR_GPU_IS_LOST);
  nvmlDevice_t again = nullptr;
  EXPECT_EQ(nvml_.DeviceGetHandleByIndex(1, &again), NVML_ERROR_GPU_IS_LOST);
  EXPECT_EQ(nvml_.DeviceGetMemoryInfo(Device(0), &memory), NVML_SUCCESS);
  ASSERT_TRUE(state_->SetLost(1, false).ok());
  EXPECT_EQ(nvml_.DeviceGetMemoryInfo(device, &memory), NVML_SUCCESS);
}

TEST_F(NvmlTest, XidsReachEveryWaitingProcess) {
  std::vector<ChildProcess> waiters;
  for (int i = 0; i < 3; ++i) {
    waiters.push_back(ChildProcess::Fork([&](ChildProcess& self) {
      nvmlEventSet_t set = nullptr;
      if (nvml_.EventSetCreate(&set) != NVML_SUCCESS ||
          nvml_.DeviceRegisterEvents(Device(2), nvmlEventTypeXidCriticalError, set) !=
              NVML_SUCCESS) {
        return 1;
      }
      self.Say("waiting");
      nvmlEventData_t event{};
      const nvmlReturn_t result = nvml_.EventSetWait_v2(set, &event, 60'000);
      unsigned index = 99;
      nvml_.DeviceGetIndex(event.device, &index);
      self.Say(std::to_string(result) + " " + std::to_string(index) + " " +
               std::to_string(event.eventData) + " " + std::to_string(event.eventType));
      nvml_.EventSetFree(set);
      return 0;
    }));
  }
  for (ChildProcess& waiter : waiters) ASSERT_EQ(waiter.ReadLine(), "waiting");
  ASSERT_TRUE(state_->InjectXid(0, 13).ok());  // another GPU: nobody registered for it
  ASSERT_TRUE(state_->InjectXid(2, 79).ok());
  for (ChildProcess& waiter : waiters) {
    EXPECT_EQ(waiter.ReadLine(), "0 2 79 8");
    EXPECT_EQ(waiter.Wait(), 0);
  }
}

TEST_F(NvmlTest, EventSetsSeeOnlyNewEventsAndReportLossOnce) {
  ASSERT_TRUE(state_->InjectXid(0, 31).ok());
  nvmlEventSet_t set = nullptr;
  ASSERT_EQ(nvml_.EventSetCreate(&set), NVML_SUCCESS);
  unsigned long long supported = 0;
  ASSERT_EQ(nvml_.DeviceGetSupportedEventTypes(Device(0), &supported), NVML_SUCCESS);
  EXPECT_NE(supported & nvmlEventTypeXidCriticalError, 0u);
  EXPECT_EQ(nvml_.DeviceRegisterEvents(Device(0), nvmlEventTypePState, set),
            NVML_ERROR_NOT_SUPPORTED);
  ASSERT_EQ(nvml_.DeviceRegisterEvents(Device(0), supported, set), NVML_SUCCESS);
  nvmlEventData_t event{};
  EXPECT_EQ(nvml_.EventSetWait_v2(set, &event, 0), NVML_ERROR_TIMEOUT);  // XID 31 came before
  ASSERT_TRUE(state_->InjectXid(0, 48).ok());
  ASSERT_EQ(nvml_.EventSetWait_v2(set, &event, 1000), NVML_SUCCESS);
  EXPECT_EQ(event.eventData, 48u);
  EXPECT_EQ(event.device, Device(0));
  ASSERT_TRUE(state_->SetLost(0, true).ok());
  EXPECT_EQ(nvml_.EventSetWait_v2(set, &event, 1000), NVML_ERROR_GPU_IS_LOST);
  EXPECT_EQ(nvml_.EventSetWait_v2(set, &event, 0), NVML_ERROR_TIMEOUT);
  ASSERT_TRUE(state_->SetLost(0, false).ok());
  ASSERT_EQ(nvml_.EventSetFree(set), NVML_SUCCESS);
}

// What a process sees when it starts with its own environment.
std::map<std::string, std::string> Probe(
    const std::map<std::string, std::optional<std::string>>& env) {
  ChildProcess probe = ChildProcess::Exec({kProbe, kLibrary}, env);
  std::map<std::string, std::string> answers;
  while (std::optional<std::string> line = probe.ReadLine()) {
    const size_t equals = line->find('=');
    answers[line->substr(0, equals)] = line->substr(equals + 1);
  }
  EXPECT_EQ(probe.Wait(), 0);
  return answers;
}

TEST_F(NvmlTest, ContainersSeeOnlyTheirVisibleDevices) {
  const std::string t4 = state_->gpu(2).uuid;
  auto answers = Probe({{std::string(kVisibleDevicesEnv), t4 + ",0"}});
  EXPECT_EQ(answers["init"], "0");
  EXPECT_EQ(answers["count"], "2");
  EXPECT_EQ(answers["device0"], state_->gpu(0).uuid + " minor 0");  // in node order
  EXPECT_EQ(answers["device1"], t4 + " minor 2");
  EXPECT_EQ(Probe({{std::string(kVisibleDevicesEnv), "none"}})["count"], "0");
  EXPECT_EQ(Probe({{std::string(kVisibleDevicesEnv), "all"}})["count"], "3");
}

// Through CDI a container gets the device nodes of its GPUs, whatever NVIDIA_VISIBLE_DEVICES
// (void, or an image's "all") says; the simulated GPUs' CDI devices mark theirs.
TEST_F(NvmlTest, CdiDevicesDecideWhichGpusAContainerSees) {
  const std::string h100 = state_->gpu(1).uuid;
  const std::string t4 = state_->gpu(2).uuid;
  auto marker = [](std::string uuid) {
    std::replace(uuid.begin(), uuid.end(), '-', '_');
    return "GPUSLICE_SIM_CDI_GPU_" + uuid;
  };
  auto answers =
      Probe({{marker(t4), t4}, {marker(h100), h100}, {std::string(kVisibleDevicesEnv), "void"}});
  EXPECT_EQ(answers["init"], "0");
  EXPECT_EQ(answers["count"], "2");
  EXPECT_EQ(answers["device0"], h100 + " minor 1");
  EXPECT_EQ(answers["device1"], t4 + " minor 2");
  EXPECT_EQ(Probe({{marker(t4), t4}, {std::string(kVisibleDevicesEnv), "all"}})["count"], "1");
}

TEST_F(NvmlTest, MisconfigurationFailsInitWithTheReason) {
  auto unset = Probe({{std::string(kStateEnv), std::nullopt}});
  EXPECT_EQ(unset["init"], std::to_string(NVML_ERROR_DRIVER_NOT_LOADED));
  EXPECT_THAT(unset["error"], HasSubstr("GPUSLICE_SIM_STATE is not set"));

  auto bad_spec = Probe({{std::string(kStateEnv), dir_->Sub("new.state")},
                         {std::string(kSpecEnv), "2xH100-80GB,1xT5"}});
  EXPECT_EQ(bad_spec["init"], std::to_string(NVML_ERROR_DRIVER_NOT_LOADED));
  EXPECT_THAT(bad_spec["error"], HasSubstr("GPUSLICE_SIM_SPEC: spec '2xH100-80GB,1xT5': item 2"));

  auto no_spec = Probe(
      {{std::string(kStateEnv), dir_->Sub("other.state")}, {std::string(kSpecEnv), std::nullopt}});
  EXPECT_THAT(no_spec["error"], HasSubstr("GPUSLICE_SIM_SPEC is not set"));

  auto unknown = Probe({{std::string(kVisibleDevicesEnv), "GPU-nope"}});
  EXPECT_THAT(unknown["error"], HasSubstr("NVIDIA_VISIBLE_DEVICES='GPU-nope'"));

  ASSERT_TRUE(SimState::Create(dir_->Sub("corrupt.state"), *ParseSpecString("1xT4"), "1xT4", false)
                  .ok());
  ASSERT_TRUE(testing::EditStateFile(dir_->Sub("corrupt.state"), [](internal::StateFile& file) {
    file.gpus[0].lost.store(2);
  }));
  auto corrupt = Probe({{std::string(kStateEnv), dir_->Sub("corrupt.state")}});
  EXPECT_EQ(corrupt["init"], std::to_string(NVML_ERROR_DRIVER_NOT_LOADED));
  EXPECT_THAT(corrupt["error"], HasSubstr("corrupt.state' is corrupt: GPU 0: lost flag 2"));

  auto bad_offset = Probe({{std::string(kHostPidOffsetEnv), "-5"}});
  EXPECT_EQ(bad_offset["init"], std::to_string(NVML_ERROR_DRIVER_NOT_LOADED));
  EXPECT_THAT(bad_offset["error"], HasSubstr("GPUSLICE_SIM_HOST_PID_OFFSET=\"-5\" is not a PID offset"));
}

}  // namespace
}  // namespace gpuslice::sim
