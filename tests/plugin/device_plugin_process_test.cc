// The real gpuslice-device-plugin process on simulated GPUs (the simulated NVML, loaded
// through the same dlopen path as libnvidia-ml.so.1), driven by the kubelet stand-in over
// real unix sockets: exit codes, registration, the Allocate contract, XID health and
// recovery, kubelet restarts, SIGHUP reloads, metrics, and a clean SIGTERM.
#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/slicing.h"
#include "fakes/subprocess.h"
#include "fakes/temp_dir.h"
#include "kubelet/device_manager.h"
#include "sim/state.h"

namespace gpuslice {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
constexpr auto kWait = 30s;
const std::string kPlugin = std::string(GPUSLICE_BIN_DIR) + "/gpuslice-device-plugin";
const std::string kSimNvml = std::string(GPUSLICE_LIB_DIR) + "/libgpuslice-sim-nvml.so";
constexpr const char* kSpec = "2xH100-80GB,1xT4";

bool AllHealthy(const std::vector<kubelet::DeviceState>& devices, size_t count) {
  return devices.size() == count &&
         std::all_of(devices.begin(), devices.end(), [](const auto& d) { return d.healthy; });
}

class DevicePluginProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(dir_.Sub("lib"));
    std::ofstream(dir_.Sub("lib/libgpuslice.so")) << "library";
    WriteConfig(4);
  }

  void WriteConfig(int h100_slices, const std::string& extra = "") {
    std::ofstream(dir_.Sub("config.tmp"))
        << "version: v1\n"
        << extra
        << "library: {hostDir: " << dir_.Sub("lib") << "}\n"
        << "regionsDir: " << dir_.Sub("regions") << "\n"
        << "health: {recoveryWindow: 1s}\n"
        << "profiles:\n- name: h100\n  match: {models: ['*H100*']}\n  slices: " << h100_slices
        << "\n";
    fs::rename(dir_.Sub("config.tmp"), dir_.Sub("config.yaml"));
  }

  std::unique_ptr<testing::Subprocess> StartPlugin(
      std::vector<std::string> extra = {}, const std::string& metrics_address = "127.0.0.1:0") {
    std::vector<std::string> argv = {kPlugin,
                                     "--config=" + dir_.Sub("config.yaml"),
                                     "--device-plugin-dir=" + dir_.Sub("dp"),
                                     "--simulate=" + std::string(kSpec),
                                     "--simulate-state=" + dir_.Sub("sim.state"),
                                     "--pod-resources-socket=" + dir_.Sub("pr/kubelet.sock"),
                                     "--metrics-address=" + metrics_address};
    argv.insert(argv.end(), extra.begin(), extra.end());
    // The plugin sees every GPU of the node, whatever the test's own environment says.
    return std::make_unique<testing::Subprocess>(
        argv, std::map<std::string, std::optional<std::string>>{{"NVIDIA_VISIBLE_DEVICES", std::nullopt}},
        dir_.Sub("plugin.log"));
  }

  void StartKubelet() {
    Result<std::unique_ptr<kubelet::DeviceManager>> started =
        kubelet::DeviceManager::Start({dir_.Sub("dp"), dir_.Sub("pr/kubelet.sock")});
    ASSERT_TRUE(started.ok()) << started.status().ToString();
    kubelet_ = std::move(*started);
  }

  // The metrics port the plugin logged.
  int MetricsPort(const testing::Subprocess& plugin) {
    const std::string marker = "metrics and health on port ";
    for (int i = 0; i < 3000; ++i) {
      const std::string output = plugin.Output();
      const size_t at = output.find(marker);
      if (at != std::string::npos) return std::atoi(output.c_str() + at + marker.size());
      std::this_thread::sleep_for(10ms);
    }
    return -1;
  }

  testing::TempDir dir_;
  std::unique_ptr<kubelet::DeviceManager> kubelet_;
};

TEST_F(DevicePluginProcessTest, InvalidConfigExitsWithTwoAndAdvertisesNothing) {
  std::ofstream(dir_.Sub("config.yaml"))
      << "version: v1\nprofiles:\n- name: x\n  match: {models: ['*']}\n  slices: 0\n";
  StartKubelet();
  auto plugin = StartPlugin();
  EXPECT_EQ(plugin->Wait(kWait), 2);
  EXPECT_NE(plugin->Output().find(dir_.Sub("config.yaml") + ":5:11: profiles[0].slices"),
            std::string::npos)
      << plugin->Output();
  EXPECT_TRUE(kubelet_->Registrations().empty());
  for (const auto& entry : fs::directory_iterator(dir_.Sub("dp"))) {
    EXPECT_EQ(entry.path().filename(), "kubelet.sock");
  }
}

TEST_F(DevicePluginProcessTest, UsageErrorsExitWithTwoAndHelpWithZero) {
  testing::Subprocess bad({kPlugin, "--allocation-policy=tight"}, {}, dir_.Sub("bad.log"));
  EXPECT_EQ(bad.Wait(kWait), 2);
  testing::Subprocess no_metrics({kPlugin, "--metrics-address=off", "--config=" + dir_.Sub("missing.yaml")},
                                 {}, dir_.Sub("off.log"));
  EXPECT_EQ(no_metrics.Wait(kWait), 2);  // the missing config, not the flag, stops it
  EXPECT_NE(no_metrics.Output().find("missing.yaml"), std::string::npos) << no_metrics.Output();
  testing::Subprocess help({kPlugin, "--help"}, {}, dir_.Sub("help.log"));
  EXPECT_EQ(help.Wait(kWait), 0);
  EXPECT_NE(help.Output().find("--simulate"), std::string::npos);
}

class SimulatedNodeTest : public DevicePluginProcessTest {
 protected:
  void SetUp() override {
    if (!fs::exists(kSimNvml)) GTEST_SKIP() << "the simulated NVML is not built: " << kSimNvml;
    DevicePluginProcessTest::SetUp();
    // Allocate mounts the simulated driver from the library directory, where the chart's
    // init container installs it.
    fs::create_directories(dir_.Sub("lib/sim"));
    for (const char* library : {"libcuda.so.1", "libnvidia-ml.so.1"}) {
      fs::copy_file(std::string(GPUSLICE_LIB_DIR) + "/sim/" + library, dir_.Sub("lib/sim/") + library);
    }
  }
};

TEST_F(SimulatedNodeTest, ABadMetricsAddressExitsWithTwoBeforeServing) {
  WriteConfig(2);
  StartKubelet();
  for (const char* address : {"9410", "host:port", ":70000", ":-1"}) {
    SCOPED_TRACE(address);
    auto plugin = StartPlugin({}, address);
    EXPECT_EQ(plugin->Wait(kWait), 2);
    EXPECT_NE(plugin->Output().find("--metrics-address: metrics address \"" +
                                    std::string(address) + "\" is not host:port"),
              std::string::npos)
        << plugin->Output();
    EXPECT_TRUE(kubelet_->Registrations().empty());
  }
}

TEST_F(SimulatedNodeTest, ServesAllocatesAndStopsCleanly) {
  StartKubelet();
  auto plugin = StartPlugin();
  ASSERT_TRUE(kubelet_->WaitForDevices(
      "nvidia.com/gpu", [](const auto& d) { return AllHealthy(d, 9); }, kWait))
      << plugin->Output();
  Result<kubelet::ContainerAllocation> allocation =
      kubelet_->Allocate("default/llm", "server", "nvidia.com/gpu", 2);
  ASSERT_TRUE(allocation.ok()) << allocation.status().ToString();
  // Packed: both slices on the first H100.
  Result<core::DeviceIdParts> first = core::ParseDeviceId(allocation->device_ids[0]);
  Result<core::DeviceIdParts> second = core::ParseDeviceId(allocation->device_ids[1]);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first->gpu_uuid, second->gpu_uuid);
  EXPECT_EQ(allocation->envs.at("NVIDIA_VISIBLE_DEVICES"), first->gpu_uuid);
  EXPECT_EQ(allocation->envs.at("GPUSLICE_COMPUTE_LIMIT_0"), "50");
  const uint64_t limit = std::stoull(allocation->envs.at("GPUSLICE_MEMORY_LIMIT_0"));
  EXPECT_GT(limit, uint64_t{39} << 30);
  EXPECT_LT(limit, uint64_t{41} << 30);
  EXPECT_EQ(allocation->envs.at("GPUSLICE_REGION"), "/var/run/gpuslice/region");

  const int port = MetricsPort(*plugin);
  ASSERT_GT(port, 0) << plugin->Output();
  httplib::Client http("127.0.0.1", port);
  auto metrics = http.Get("/metrics");
  ASSERT_TRUE(metrics && metrics->status == 200);
  EXPECT_NE(metrics->body.find("gpuslice_allocations_total{resource=\"nvidia.com/gpu\"} 1"),
            std::string::npos)
      << metrics->body;
  auto health = http.Get("/healthz");
  ASSERT_TRUE(health && health->status == 200);
  const nlohmann::json body = nlohmann::json::parse(health->body);
  EXPECT_EQ(body["resources"][0]["registered"], true);
  EXPECT_EQ(body["resources"][0]["devices"], 9);

  plugin->Signal(SIGTERM);
  EXPECT_EQ(plugin->Wait(kWait), 0) << plugin->Output();
  for (const auto& entry : fs::directory_iterator(dir_.Sub("dp"))) {
    EXPECT_EQ(entry.path().filename(), "kubelet.sock");
  }
}

TEST_F(SimulatedNodeTest, SurvivesKubeletRestartsAndReloadsOnSighup) {
  StartKubelet();
  auto plugin = StartPlugin();
  ASSERT_TRUE(kubelet_->WaitForRegistrations("nvidia.com/gpu", 1, kWait)) << plugin->Output();
  ASSERT_TRUE(kubelet_->Restart().ok());
  ASSERT_TRUE(kubelet_->WaitForRegistrations("nvidia.com/gpu", 2, kWait)) << plugin->Output();
  ASSERT_TRUE(kubelet_->WaitForDevices(
      "nvidia.com/gpu", [](const auto& d) { return AllHealthy(d, 9); }, kWait));

  WriteConfig(8);
  plugin->Signal(SIGHUP);
  ASSERT_TRUE(kubelet_->WaitForDevices(
      "nvidia.com/gpu", [](const auto& d) { return AllHealthy(d, 17); }, kWait))
      << plugin->Output();
}

TEST_F(SimulatedNodeTest, CriticalXidMarksTheGpuUnhealthyUntilItRecovers) {
  StartKubelet();
  auto plugin = StartPlugin();
  ASSERT_TRUE(kubelet_->WaitForDevices(
      "nvidia.com/gpu", [](const auto& d) { return AllHealthy(d, 9); }, kWait))
      << plugin->Output();
  Result<std::unique_ptr<sim::SimState>> state = sim::SimState::Open(dir_.Sub("sim.state"));
  ASSERT_TRUE(state.ok()) << state.status().ToString();
  const std::string t4 = (*state)->gpu(2).uuid;
  auto t4_healthy = [&](bool healthy) {
    return [t4, healthy](const std::vector<kubelet::DeviceState>& devices) {
      for (const auto& device : devices) {
        if (device.id.rfind(t4, 0) == 0) return device.healthy == healthy;
      }
      return false;
    };
  };
  // An application XID changes nothing; a critical one marks the GPU and only that GPU.
  ASSERT_TRUE((*state)->InjectXid(2, 13).ok());
  ASSERT_TRUE((*state)->SetLost(2, true).ok());
  ASSERT_TRUE((*state)->InjectXid(2, 94).ok());  // contained ECC: recoverable
  ASSERT_TRUE(kubelet_->WaitForDevices("nvidia.com/gpu", t4_healthy(false), kWait))
      << plugin->Output();
  const auto devices = kubelet_->Devices("nvidia.com/gpu");
  EXPECT_EQ(std::count_if(devices.begin(), devices.end(), [](const auto& d) { return d.healthy; }),
            8);
  // While NVML reports the GPU lost it stays unhealthy past the recovery window; once the
  // driver answers again and the window passes without a critical XID, its slice returns.
  ASSERT_TRUE((*state)->SetLost(2, false).ok());
  ASSERT_TRUE(kubelet_->WaitForDevices("nvidia.com/gpu", t4_healthy(true), kWait))
      << plugin->Output();
  EXPECT_NE(plugin->Output().find("is healthy again"), std::string::npos);
}

// failOnInitError false: a driver container still starting (its root has no NVML yet) makes
// the agent wait, healthy and advertising nothing, and serve once the library appears there.
TEST_F(SimulatedNodeTest, WaitsForTheDriverUnderItsRootWhenFailOnInitErrorIsFalse) {
  fs::create_directories(dir_.Sub("driver/usr/lib64"));
  const std::vector<std::string> argv = {kPlugin,
                                         "--config=" + dir_.Sub("config.yaml"),
                                         "--device-plugin-dir=" + dir_.Sub("dp"),
                                         "--pod-resources-socket=" + dir_.Sub("pr/kubelet.sock"),
                                         "--metrics-address=127.0.0.1:0",
                                         "--nvidia-driver-root=" + dir_.Sub("driver")};
  // The simulated NVML stands in for the driver's: it finds its GPUs through these.
  const std::map<std::string, std::optional<std::string>> env = {
      {"GPUSLICE_SIM_STATE", dir_.Sub("sim.state")},
      {"GPUSLICE_SIM_SPEC", kSpec},
      {"NVIDIA_VISIBLE_DEVICES", std::nullopt}};

  testing::Subprocess failing(argv, env, dir_.Sub("failing.log"));
  EXPECT_EQ(failing.Wait(kWait), 1);
  EXPECT_NE(
      failing.Output().find("libnvidia-ml.so.1 is not under the driver root " + dir_.Sub("driver")),
      std::string::npos)
      << failing.Output();

  StartKubelet();
  std::vector<std::string> waiting_argv = argv;
  waiting_argv.push_back("--fail-on-init-error=false");
  testing::Subprocess plugin(waiting_argv, env, dir_.Sub("plugin.log"));
  const int port = MetricsPort(plugin);
  ASSERT_GT(port, 0) << plugin.Output();
  httplib::Client http("127.0.0.1", port);
  auto health = http.Get("/healthz");
  ASSERT_TRUE(health && health->status == 200) << plugin.Output();
  EXPECT_EQ(nlohmann::json::parse(health->body)["status"], "waiting for the NVIDIA driver");
  EXPECT_TRUE(kubelet_->Registrations().empty());

  fs::create_symlink(kSimNvml, dir_.Sub("driver/usr/lib64/libnvidia-ml.so.1"));
  ASSERT_TRUE(kubelet_->WaitForDevices(
      "nvidia.com/gpu", [](const auto& d) { return AllHealthy(d, 9); }, kWait))
      << plugin.Output();
  health = http.Get("/healthz");
  ASSERT_TRUE(health && health->status == 200);
  EXPECT_EQ(nlohmann::json::parse(health->body)["status"], "ok");
  plugin.Signal(SIGTERM);
  EXPECT_EQ(plugin.Wait(kWait), 0) << plugin.Output();
}

// Each deviceListStrategy and passDeviceSpecs, from the real binary on a driver root (the
// simulated NVML standing in for the driver's) to the kubelet over gRPC: the CDI devices field,
// the CDI annotation, NVIDIA_VISIBLE_DEVICES and the device nodes at their node paths.
TEST_F(SimulatedNodeTest, HandsTheKubeletEveryDeviceListStrategyAndTheDeviceNodes) {
  fs::create_directories(dir_.Sub("driver/usr/lib64"));
  fs::create_directories(dir_.Sub("driver/dev"));
  fs::create_symlink(kSimNvml, dir_.Sub("driver/usr/lib64/libnvidia-ml.so.1"));
  // Control devices are handed over only where the driver created them: no nvidia-modeset.
  for (const char* node : {"nvidiactl", "nvidia-uvm", "nvidia-uvm-tools"}) {
    std::ofstream(dir_.Sub("driver/dev/") + node) << "";
  }
  const std::map<std::string, std::optional<std::string>> env = {
      {"GPUSLICE_SIM_STATE", dir_.Sub("sim.state")},
      {"GPUSLICE_SIM_SPEC", kSpec},
      {"NVIDIA_VISIBLE_DEVICES", std::nullopt}};
  auto run = [&](const std::string& strategies, const std::string& log) {
    WriteConfig(4, "deviceListStrategy: " + strategies + "\npassDeviceSpecs: true\n");
    return std::make_unique<testing::Subprocess>(
        std::vector<std::string>{kPlugin, "--config=" + dir_.Sub("config.yaml"),
                                 "--device-plugin-dir=" + dir_.Sub("dp"),
                                 "--pod-resources-socket=" + dir_.Sub("pr/kubelet.sock"),
                                 "--metrics-address=127.0.0.1:0",
                                 "--nvidia-driver-root=" + dir_.Sub("driver"),
                                 "--nvidia-driver-root-host=/run/nvidia/driver"},
        env, dir_.Sub(log));
  };
  StartKubelet();

  auto all = run("[envvar, cdi-cri, cdi-annotations]", "all.log");
  ASSERT_TRUE(kubelet_->WaitForDevices(
      "nvidia.com/gpu", [](const auto& d) { return AllHealthy(d, 9); }, kWait))
      << all->Output();
  Result<kubelet::ContainerAllocation> allocation =
      kubelet_->Allocate("default/llm", "server", "nvidia.com/gpu", 2);
  ASSERT_TRUE(allocation.ok()) << allocation.status().ToString() << all->Output();
  Result<core::DeviceIdParts> first = core::ParseDeviceId(allocation->device_ids[0]);
  ASSERT_TRUE(first.ok());
  const std::string uuid = first->gpu_uuid;
  const std::string cdi_device = "nvidia.com/gpu=" + uuid;
  EXPECT_EQ(allocation->envs.at("NVIDIA_VISIBLE_DEVICES"), uuid);
  EXPECT_EQ(allocation->cdi_devices, std::vector<std::string>{cdi_device});
  ASSERT_EQ(allocation->annotations.size(), 1u);
  EXPECT_EQ(allocation->annotations.begin()->first.rfind("cdi.k8s.io/gpuslice_", 0), 0u)
      << allocation->annotations.begin()->first;
  EXPECT_EQ(allocation->annotations.begin()->second, cdi_device);
  // gpuslice's own contract comes with every strategy.
  EXPECT_EQ(allocation->envs.at("GPUSLICE_COMPUTE_LIMIT_0"), "50");

  Result<std::unique_ptr<sim::SimState>> state = sim::SimState::Open(dir_.Sub("sim.state"));
  ASSERT_TRUE(state.ok()) << state.status().ToString();
  int minor = -1;
  for (int i = 0; i < (*state)->gpu_count(); ++i) {
    if ((*state)->gpu(i).uuid == uuid) minor = (*state)->gpu(i).minor;
  }
  ASSERT_GE(minor, 0) << uuid;
  std::map<std::string, std::string> devices;
  for (const kubelet::DeviceSpec& device : allocation->devices) {
    EXPECT_EQ(device.permissions, "rw") << device.container_path;
    devices[device.container_path] = device.host_path;
  }
  const std::string gpu_node = "/dev/nvidia" + std::to_string(minor);
  EXPECT_EQ(devices, (std::map<std::string, std::string>{
                         {gpu_node, "/run/nvidia/driver" + gpu_node},
                         {"/dev/nvidiactl", "/run/nvidia/driver/dev/nvidiactl"},
                         {"/dev/nvidia-uvm", "/run/nvidia/driver/dev/nvidia-uvm"},
                         {"/dev/nvidia-uvm-tools", "/run/nvidia/driver/dev/nvidia-uvm-tools"}}));
  all->Signal(SIGTERM);
  ASSERT_EQ(all->Wait(kWait), 0) << all->Output();

  // Each CDI strategy alone: the GPU reaches the runtime only the way it names.
  int registrations = 1;
  for (const std::string strategy : {"cdi-cri", "cdi-annotations"}) {
    SCOPED_TRACE(strategy);
    auto plugin = run(strategy, strategy + ".log");
    // Registered first: the devices the stopped plugin reported may still be listed.
    ASSERT_TRUE(kubelet_->WaitForRegistrations("nvidia.com/gpu", ++registrations, kWait))
        << plugin->Output();
    ASSERT_TRUE(kubelet_->WaitForDevices(
        "nvidia.com/gpu", [](const auto& d) { return AllHealthy(d, 9); }, kWait))
        << plugin->Output();
    Result<kubelet::ContainerAllocation> alone =
        kubelet_->Allocate("default/" + strategy, "c", "nvidia.com/gpu", 1);
    ASSERT_TRUE(alone.ok()) << alone.status().ToString() << plugin->Output();
    // "void": an image's own NVIDIA_VISIBLE_DEVICES=all cannot add every GPU of the node.
    EXPECT_EQ(alone->envs.at("NVIDIA_VISIBLE_DEVICES"), "void");
    EXPECT_EQ(alone->cdi_devices.size(), strategy == "cdi-cri" ? 1u : 0u);
    EXPECT_EQ(alone->annotations.size(), strategy == "cdi-annotations" ? 1u : 0u);
    EXPECT_FALSE(alone->devices.empty());
    EXPECT_TRUE(alone->envs.count("GPUSLICE_REGION"));
    plugin->Signal(SIGTERM);
    ASSERT_EQ(plugin->Wait(kWait), 0) << plugin->Output();
  }
}

}  // namespace
}  // namespace gpuslice
