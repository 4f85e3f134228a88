// Issue 16: a tenant who can only write pod specs cannot widen its slice. The device plugin
// (gpuslice-device-plugin on two simulated GPUs, driven by the kubelet stand-in) allocates a
// slice; clients then run the way the container runtime would start them: in a mount namespace
// of their own with the Allocate response's mounts and the pod's volumes made in the kubelet's
// and containerd's order, and the plugin's environment with the pod spec's `env` on top.
// Also the fail-closed cases of issues 9 and 15: GPUs without a limit of their own, misspelt
// variables, a limits file or region that cannot be trusted.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "core/region.h"
#include "fakes/subprocess.h"
#include "kubelet/device_manager.h"
#include "preload/client_process.h"

namespace gpuslice::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr auto kWait = 30s;
constexpr int kSlicesPerGpu = 4;
constexpr const char* kUuidA = "GPU-0a1b2c3d-0000-4000-8000-00000000000a";
constexpr const char* kUuidB = "GPU-0a1b2c3d-0000-4000-8000-00000000000b";
constexpr uint64_t kGpuBytes = 40ULL << 30;  // A100-40GB
constexpr uint64_t kSliceBytes = kGpuBytes / kSlicesPerGpu;
constexpr uint64_t kContextBytes = 64ULL << 20;
constexpr const char* kOutOfMemory = "err 2";  // CUDA_ERROR_OUT_OF_MEMORY

uint64_t Free(ClientProcess& client) {
  std::istringstream answer(client.Send("info"));
  std::string word;
  uint64_t free = 0;
  answer >> word >> free;
  EXPECT_EQ(word, "info");
  return free;
}

std::string ReadAll(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

int Count(const std::string& text, const std::string& part) {
  int count = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) {
    ++count;
  }
  return count;
}

// What the kubelet hands the container runtime for one container.
struct Container {
  Environment env;
  std::vector<ContainerMount> mounts;
  std::string allocation_dir;  // the plugin's host directory for the allocation
  std::string gpu;             // the UUID the slice is on
};

class TenantTest : public ::testing::Test {
 protected:
  TenantTest() : node_("") {
    spec_ = node_.directory() + "/spec.yaml";
    std::ofstream(spec_) << "version: v1\ngpus:\n"
                         << "  - {model: A100-40GB, uuid: " << kUuidA
                         << ", contextMemory: " << kContextBytes << ", kernelDuration: 1ms}\n"
                         << "  - {model: A100-40GB, uuid: " << kUuidB
                         << ", contextMemory: " << kContextBytes << ", kernelDuration: 1ms}\n";
    node_.set_spec(spec_);
  }

  // Starts the plugin with one profile slicing both GPUs; `profile_fields` adds to it.
  void StartPlugin(const std::string& profile_fields = "") {
    const std::string dir = node_.directory();
    std::ofstream(dir + "/plugin.yaml")
        << "version: v1\n"
        << "library: {hostDir: " << GPUSLICE_LIB_DIR << "}\n"
        << "regionsDir: " << dir << "/regions\n"
        << "profiles:\n- name: a100\n  match: {models: ['*A100*']}\n"
        << "  slices: " << kSlicesPerGpu << "\n"
        << profile_fields;
    fs::create_directories(dir + "/dp");
    auto kubelet = kubelet::DeviceManager::Start({dir + "/dp", ""});
    ASSERT_TRUE(kubelet.ok()) << kubelet.status().ToString();
    kubelet_ = std::move(*kubelet);
    plugin_ = std::make_unique<Subprocess>(
        std::vector<std::string>{std::string(GPUSLICE_BIN_DIR) + "/gpuslice-device-plugin",
                                 "--config=" + dir + "/plugin.yaml",
                                 "--device-plugin-dir=" + dir + "/dp", "--simulate=" + spec_,
                                 "--simulate-state=" + node_.state_path(),
                                 "--metrics-address=127.0.0.1:0"},
        std::map<std::string, std::optional<std::string>>{{"NVIDIA_VISIBLE_DEVICES", std::nullopt}},
        dir + "/plugin.log");
    ASSERT_TRUE(kubelet_->WaitForDevices(
        "nvidia.com/gpu", [](const auto& devices) { return devices.size() == 2 * kSlicesPerGpu; },
        kWait))
        << plugin_->Output();
  }

  void SkipWithoutContainers() {
    std::string why;
    if (!CanStartContainers(&why)) GTEST_SKIP() << why;
  }

  // A container of pod `pod` with `slices` slices: the plugin's environment with `pod_env` on
  // top (the kubelet lets a spec's env override a device plugin's), the plugin's mounts and
  // then `pod_volumes`.
  Container Allocate(const std::string& pod, int slices, const Environment& pod_env = {},
                     const std::vector<ContainerMount>& pod_volumes = {}) {
    Result<kubelet::ContainerAllocation> allocation =
        kubelet_->Allocate(pod, "main", "nvidia.com/gpu", slices);
    EXPECT_TRUE(allocation.ok()) << allocation.status().ToString();
    if (!allocation.ok()) return {};
    Container container;
    container.env = Environment(allocation->envs.begin(), allocation->envs.end());
    container.gpu = container.env["NVIDIA_VISIBLE_DEVICES"];
    for (const auto& [name, value] : pod_env) container.env[name] = value;
    for (const kubelet::Mount& mount : allocation->mounts) {
      container.mounts.push_back({mount.container_path, mount.host_path, mount.read_only});
      if (mount.container_path == "/etc/gpuslice") {
        container.allocation_dir = fs::path(mount.host_path).parent_path().string();
      }
    }
    for (const ContainerMount& volume : pod_volumes) container.mounts.push_back(volume);
    EXPECT_FALSE(container.allocation_dir.empty()) << "no mount of the limits directory";
    return container;
  }

  std::unique_ptr<ClientProcess> Run(const Container& container,
                                     const std::string& program = kDirectClient) {
    return ClientProcess::StartInContainer(program, node_, container.env, container.mounts,
                                           StderrPath());
  }

  // Each client started by Run or RunByHand writes its stderr to a new file.
  std::string StderrPath() {
    ++clients_;
    return LastStderrPath();
  }
  std::string LastStderrPath() const {
    return node_.directory() + "/stderr-" + std::to_string(clients_);
  }
  std::string LastStderr() const { return ReadAll(LastStderrPath()); }

  // An empty directory of the test, as a pod's emptyDir volume.
  std::string Volume(const std::string& name) {
    const std::string path = node_.directory() + "/volume-" + name;
    fs::create_directories(path);
    return path;
  }

  SimNode node_;
  std::string spec_;
  int clients_ = 0;
  std::unique_ptr<kubelet::DeviceManager> kubelet_;
  std::unique_ptr<Subprocess> plugin_;
};

// The pod spec of issue 16: the off switch, a whole GPU's memory, its own region for each
// process and no LD_PRELOAD. /etc/ld.so.preload still loads the library, which takes the
// limits and the region from the read-only limits file, so the container is held to its slice.
TEST_F(TenantTest, APodSpecsEnvironmentCannotWidenItsSlice) {
  SkipWithoutContainers();
  StartPlugin();
  const Environment pod_env = {{"GPUSLICE_DISABLE", "1"},
                               {"GPUSLICE_MEMORY_LIMIT_0", std::to_string(kGpuBytes)},
                               {"GPUSLICE_COMPUTE_LIMIT_0", "100"},
                               {"LD_PRELOAD", ""}};
  Container container = Allocate("team-b/greedy", 1, pod_env);
  ASSERT_FALSE(container.allocation_dir.empty());
  // Two processes that try to keep their accounts apart.
  Environment first_env = container.env, second_env = container.env;
  first_env["GPUSLICE_REGION"] = node_.NewRegionFile();
  second_env["GPUSLICE_REGION"] = node_.NewRegionFile();
  Container first = container, second = container;
  first.env = first_env;
  second.env = second_env;
  auto one = Run(first);
  const std::string one_stderr = LastStderrPath();
  auto two = Run(second, kCudartClient);
  ASSERT_TRUE(one && two);
  ASSERT_EQ(one->Send("init"), "ok") << ReadAll(one_stderr);
  ASSERT_EQ(two->Send("init"), "ok") << LastStderr();
  const uint64_t free = Free(*one);
  EXPECT_EQ(free, kSliceBytes - 2 * kContextBytes);
  EXPECT_EQ(one->Send("alloc plain " + std::to_string(free / 2)).rfind("ok", 0), 0u);
  EXPECT_EQ(two->Send("alloc plain " + std::to_string(free - free / 2)).rfind("ok", 0), 0u);
  EXPECT_EQ(two->Send("alloc plain " + std::to_string(1 << 20)), kOutOfMemory);
  EXPECT_EQ(one->Send("alloc plain " + std::to_string(1 << 20)), kOutOfMemory);
  one.reset();
  two.reset();

  // Each process says once what it ignored, and why.
  const std::string said = ReadAll(one_stderr);
  EXPECT_EQ(Count(said, "GPUSLICE_DISABLE='1' is ignored"), 1) << said;
  EXPECT_EQ(Count(said, "GPUSLICE_MEMORY_LIMIT_0='" + std::to_string(kGpuBytes) + "'"), 1) << said;
  EXPECT_NE(said.find("come from /etc/gpuslice/limits"), std::string::npos) << said;
}

TEST_F(TenantTest, TheOperatorMayLetATenantSwitchEnforcementOff) {
  SkipWithoutContainers();
  StartPlugin("  allowDisable: true\n");
  Container container = Allocate("team-a/debug", 1, {{"GPUSLICE_DISABLE", "1"}});
  auto client = Run(container);
  ASSERT_TRUE(client);
  ASSERT_EQ(client->Send("init"), "ok") << LastStderr();
  EXPECT_EQ(client->Send("alloc plain " + std::to_string(2 * kSliceBytes)).rfind("ok", 0), 0u);
  client.reset();
  EXPECT_NE(LastStderr().find("enforcement is off"), std::string::npos) << LastStderr();
}

// Issue 9, item 5, and issue 16: the container's CUDA sees a GPU its limits do not name (here
// because the pod spec points NVIDIA_VISIBLE_DEVICES at the neighbour's GPU). That GPU gets a
// zero limit, so not even a context fits, and the process says so once, naming both GPUs.
TEST_F(TenantTest, AGpuTheLimitsDoNotNameGetsAZeroLimit) {
  SkipWithoutContainers();
  StartPlugin();
  Container container = Allocate("team-b/mover", 1);
  ASSERT_FALSE(container.gpu.empty());
  const std::string other = container.gpu == kUuidA ? kUuidB : kUuidA;
  container.env["NVIDIA_VISIBLE_DEVICES"] = other;
  auto client = Run(container);
  ASSERT_TRUE(client);
  EXPECT_EQ(client->Send("init"), kOutOfMemory);
  EXPECT_EQ(client->Send("total"), "total 0");
  EXPECT_EQ(client->Send("nvml"), "nvml 0 0 0");
  client.reset();
  const std::string said = LastStderr();
  EXPECT_EQ(Count(said, "gives no limit"), 1) << said;
  EXPECT_NE(said.find("CUDA device 0 (" + other + ")"), std::string::npos) << said;
  EXPECT_NE(said.find("it limits " + container.gpu), std::string::npos) << said;
}

// A pod's volume at a parent of the plugin's mounts goes under them: containerd makes mounts
// shallowest first, so the plugin's deeper mounts land on top and still hold.
TEST_F(TenantTest, VolumesAtParentsOfTheLibrarysPathsAreHeld) {
  SkipWithoutContainers();
  StartPlugin();
  Container container = Allocate(
      "team-b/volumes", 1, {},
      {{"/usr/local/gpuslice", Volume("local"), false}, {"/var/run", Volume("run"), false}});
  auto client = Run(container);
  ASSERT_TRUE(client);
  ASSERT_EQ(client->Send("init"), "ok") << LastStderr();
  EXPECT_EQ(Free(*client), kSliceBytes - kContextBytes);
  EXPECT_EQ(client->Send("alloc plain " + std::to_string(kSliceBytes)), kOutOfMemory);
}

// Whatever a process writes into the region, the others fail closed rather than crash or pass
// their limit: a region whose header was written over refuses every allocation.
TEST_F(TenantTest, ARegionWrittenOverFailsClosed) {
  SkipWithoutContainers();
  StartPlugin();
  Container container = Allocate("team-b/scribbler", 1);
  // A gpuslice region of a layout no build wrote: never laid out again over what others use.
  core::region::Header header = core::region::CurrentHeader();
  header.version = 77;
  std::string bytes(core::region::kRegionSize, '\0');
  std::memcpy(bytes.data(), &header, sizeof(header));
  std::ofstream(container.allocation_dir + "/region", std::ios::binary) << bytes;
  auto client = Run(container);
  ASSERT_TRUE(client);
  EXPECT_EQ(client->Send("init"), kOutOfMemory);
  client.reset();
  EXPECT_NE(LastStderr().find("every allocation on this container's GPUs is refused"),
            std::string::npos)
      << LastStderr();
}

TEST_F(TenantTest, ALimitsFileThatCannotBeParsedFailsClosed) {
  SkipWithoutContainers();
  StartPlugin();
  Container container = Allocate("team-b/broken", 1);
  std::ofstream(container.allocation_dir + "/limits/limits") << "version 1\ngpu bogus\n";
  auto client = Run(container);
  ASSERT_TRUE(client);
  EXPECT_EQ(client->Send("init"), kOutOfMemory);
  client.reset();
  const std::string said = LastStderr();
  EXPECT_NE(said.find("/etc/gpuslice/limits: limits file line 2"), std::string::npos) << said;
  EXPECT_NE(said.find("every GPU gets a zero memory limit"), std::string::npos) << said;
}

// Run by hand, outside Kubernetes: the environment holds the limits (issue 15, item 9).
class HandRunTest : public TenantTest {
 protected:
  std::unique_ptr<ClientProcess> RunByHand(const Environment& env) {
    return ClientProcess::Start(kDirectClient, node_, env, /*preload=*/true, StderrPath());
  }
};

TEST_F(HandRunTest, AVisibleGpuWithoutAMemoryLimitOfItsOwnGetsZero) {
  auto client = RunByHand({{"NVIDIA_VISIBLE_DEVICES", std::string(kUuidA) + "," + kUuidB},
                           {"GPUSLICE_MEMORY_LIMIT_1", std::to_string(kSliceBytes)}});
  ASSERT_TRUE(client);
  // Device 0 is GPU A, which has no limit of its own while GPU B has one.
  EXPECT_EQ(client->Send("init"), kOutOfMemory);
  client.reset();
  EXPECT_NE(LastStderr().find("GPU 0 (" + std::string(kUuidA) + ") has no GPUSLICE_MEMORY_LIMIT"),
            std::string::npos)
      << LastStderr();
}

TEST_F(HandRunTest, AMisspeltLimitFailsClosedNamingIt) {
  auto client = RunByHand({{"NVIDIA_VISIBLE_DEVICES", kUuidA},
                           {"GPUSLICE_MEMORY_LIMIT_00", std::to_string(kSliceBytes)}});
  ASSERT_TRUE(client);
  EXPECT_EQ(client->Send("init"), kOutOfMemory);
  client.reset();
  EXPECT_NE(LastStderr().find("GPUSLICE_MEMORY_LIMIT_00 is not a libgpuslice variable"),
            std::string::npos)
      << LastStderr();
}

TEST_F(HandRunTest, AnUnknownVariableIsReportedAndTheLimitsStillHold) {
  auto client = RunByHand({{"NVIDIA_VISIBLE_DEVICES", kUuidA},
                           {"GPUSLICE_MEMORY_LIMIT_0", std::to_string(kSliceBytes)},
                           {"GPUSLICE_MEMORY_LIMT_1", "1"},
                           {"GPUSLICE_FAVOURITE", "blue"}});
  ASSERT_TRUE(client);
  // A misspelt limit-like name fails closed; anything else is only reported.
  EXPECT_EQ(client->Send("init"), kOutOfMemory);
  client.reset();
  EXPECT_NE(LastStderr().find("GPUSLICE_MEMORY_LIMT_1"), std::string::npos) << LastStderr();

  client = RunByHand({{"NVIDIA_VISIBLE_DEVICES", kUuidA},
                      {"GPUSLICE_MEMORY_LIMIT_0", std::to_string(kSliceBytes)},
                      {"GPUSLICE_FAVOURITE", "blue"}});
  ASSERT_TRUE(client);
  ASSERT_EQ(client->Send("init"), "ok");
  EXPECT_EQ(Free(*client), kSliceBytes - kContextBytes);
  client.reset();
  EXPECT_EQ(Count(LastStderr(), "GPUSLICE_FAVOURITE is not read by libgpuslice"), 1)
      << LastStderr();
}

}  // namespace
}  // namespace gpuslice::testing
