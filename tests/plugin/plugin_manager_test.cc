// The plugin's life cycle against the kubelet stand-in, over real gRPC on real unix sockets:
// registration, ListAndWatch, allocation, health, kubelet restarts, socket loss, config
// reloads and region cleanup. GPUs come from the in-memory backend; the process-level test
// (device_plugin_process_test.cc) covers the real binary on simulated NVML.
#include "plugin/plugin_manager.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "core/slicing.h"
#include "fakes/fake_gpu_backend.h"
#include "fakes/temp_dir.h"
#include "kubelet/device_manager.h"
#include "plugin/cdi.h"

namespace gpuslice::plugin {
namespace {

using namespace std::chrono_literals;
using testing::MakeGpu;
namespace fs = std::filesystem;
constexpr uint64_t kGiB = uint64_t{1} << 30;
constexpr auto kWait = 20s;  // generous: sanitizers and a loaded machine slow everything down

// Polls `condition` until it holds or kWait passes, for state without a notification.
bool Eventually(const std::function<bool()>& condition) {
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

bool AllHealthy(const std::vector<kubelet::DeviceState>& devices, size_t count) {
  return devices.size() == count &&
         std::all_of(devices.begin(), devices.end(), [](const auto& d) { return d.healthy; });
}

class PluginManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    gpus_ = {MakeGpu(0, "NVIDIA H100 80GB HBM3", 80 * kGiB, 0), MakeGpu(1, "Tesla T4", 16 * kGiB, 1)};
    backend_ = std::make_unique<testing::FakeGpuBackend>(gpus_);
    fs::create_directories(dir_.Sub("lib"));
    std::ofstream(dir_.Sub("lib/libgpuslice.so")) << "library";
    WriteConfig(4);
  }
  void TearDown() override { StopPlugin(); }

  void WriteConfig(int h100_slices, const std::string& extra = "",
                   const std::string& file = "config.yaml") {
    std::ofstream(dir_.Sub("config.tmp")) << "version: v1\n"
                                          << "devicePluginDir: " << dir_.Sub("dp") << "\n"
                                          << "library: {hostDir: " << dir_.Sub("lib") << "}\n"
                                          << "regionsDir: " << dir_.Sub("regions") << "\n"
                                          << "health: {recoveryWindow: 1h}\n"
                                          << "profiles:\n- name: h100\n  match: {models: ['*H100*']}\n"
                                          << "  slices: " << h100_slices << "\n"
                                          << "  resourceName: gpuslice.io/slice\n"
                                          << extra;
    // Replace atomically, as editors and ConfigMap updates do.
    fs::rename(dir_.Sub("config.tmp"), dir_.Sub(file));
  }

  void StartKubelet() {
    Result<std::unique_ptr<kubelet::DeviceManager>> kubelet = kubelet::DeviceManager::Start(
        {dir_.Sub("dp"), dir_.Sub("pod-resources/kubelet.sock")});
    ASSERT_TRUE(kubelet.ok()) << kubelet.status().ToString();
    kubelet_ = std::move(*kubelet);
  }

  void StartPlugin(const std::function<void(PluginManagerOptions&)>& adjust = {}) {
    std::ifstream file(dir_.Sub("config.yaml"));
    std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    Result<core::Config> config = core::ParseConfig(text, "config.yaml");
    ASSERT_TRUE(config.ok()) << config.status().ToString();
    PluginManagerOptions options;
    options.config_path = dir_.Sub("config.yaml");
    options.pod_resources_socket = dir_.Sub("pod-resources/kubelet.sock");
    options.register_backoff_initial = 10ms;
    options.register_backoff_max = 100ms;
    options.gc_interval = 50ms;
    // Covers the moment between Allocate and the kubelet listing the allocation, as in
    // production; short so the cleanup test does not wait long.
    options.region_grace = 2s;
    options.region_confirmation = 100ms;
    options.reslice_check_interval = 50ms;
    options.health = {20ms, 20ms};
    if (adjust) adjust(options);
    manager_ = std::make_unique<PluginManager>(options, *config, *backend_, metrics_,
                                               core::SystemClock::Get());
    ASSERT_TRUE(manager_->Start().ok());
    run_ = std::thread([this] { manager_->Run(); });
  }

  void StopPlugin() {
    if (manager_ == nullptr) return;
    manager_->Stop();
    if (run_.joinable()) run_.join();
    manager_.reset();
  }

  std::string Id(int gpu, int slice) { return core::MakeDeviceId(gpus_[gpu].uuid, slice); }

  // After a reload from 4 to 8 slices while pod ns/busy holds one of GPU 0's: the GPU keeps its
  // 4 slices until the pod is gone, then takes the 8.
  void ExpectTheBusyGpuKeepsItsFourSlicesUntilFreed() {
    EXPECT_EQ(kubelet_->Devices("gpuslice.io/slice").size(), 4u);
    EXPECT_EQ(metrics_.Get(kMetricGpuSlices, {{"gpu", gpus_[0].uuid},
                                              {"index", "0"},
                                              {"model", gpus_[0].name},
                                              {"profile", "h100"},
                                              {"resource", "gpuslice.io/slice"}}),
              4);
    kubelet_->ReleasePod("ns/busy");
    ASSERT_TRUE(kubelet_->WaitForDevices(
        "gpuslice.io/slice", [](const auto& d) { return AllHealthy(d, 8); }, kWait));
    EXPECT_EQ(metrics_.Get(kMetricReslicePending, {{"gpu", gpus_[0].uuid}, {"index", "0"}}), 0);
  }

  testing::TempDir dir_;
  std::vector<core::GpuInfo> gpus_;
  std::unique_ptr<testing::FakeGpuBackend> backend_;
  MetricsRegistry metrics_;
  std::unique_ptr<kubelet::DeviceManager> kubelet_;
  std::unique_ptr<PluginManager> manager_;
  std::thread run_;
};

TEST_F(PluginManagerTest, RegistersEveryResourceAndStreamsItsDevices) {
  StartKubelet();
  StartPlugin();
  ASSERT_TRUE(kubelet_->WaitForDevices(
      "gpuslice.io/slice", [](const auto& d) { return AllHealthy(d, 4); }, kWait));
  ASSERT_TRUE(kubelet_->WaitForDevices(
      "nvidia.com/gpu", [](const auto& d) { return AllHealthy(d, 1); }, kWait));
  const auto slices = kubelet_->Devices("gpuslice.io/slice");
  EXPECT_EQ(slices[0].id, Id(0, 0));
  EXPECT_EQ(slices[3].id, Id(0, 3));
  EXPECT_EQ(slices[0].numa_nodes, (std::vector<int64_t>{0}));
  EXPECT_EQ(kubelet_->Devices("nvidia.com/gpu")[0].numa_nodes, (std::vector<int64_t>{1}));
  for (const auto& registration : kubelet_->Registrations()) {
    EXPECT_TRUE(registration.result.ok()) << registration.result.ToString();
    EXPECT_EQ(registration.endpoint.find('/'), std::string::npos);
  }
  EXPECT_EQ(metrics_.Get(kMetricRegistrations,
                         {{"resource", "gpuslice.io/slice"}, {"result", "success"}}),
            1);
}

TEST_F(PluginManagerTest, AllocatesThroughThePreferredAllocation) {
  StartKubelet();
  StartPlugin();
  ASSERT_TRUE(kubelet_->WaitForDevices(
      "gpuslice.io/slice", [](const auto& d) { return AllHealthy(d, 4); }, kWait));
  Result<kubelet::ContainerAllocation> first =
      kubelet_->Allocate("default/a", "main", "gpuslice.io/slice", 2);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_TRUE(first->used_preferred_allocation);
  EXPECT_EQ(first->device_ids, (std::vector<std::string>{Id(0, 0), Id(0, 1)}));
  EXPECT_EQ(first->envs.at("GPUSLICE_MEMORY_LIMIT_0"), std::to_string(40 * kGiB));
  EXPECT_EQ(first->envs.at("GPUSLICE_COMPUTE_LIMIT_0"), "50");
  Result<kubelet::ContainerAllocation> second =
      kubelet_->Allocate("default/b", "main", "gpuslice.io/slice", 2);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->device_ids, (std::vector<std::string>{Id(0, 2), Id(0, 3)}));
  EXPECT_EQ(kubelet_->Allocate("default/c", "main", "gpuslice.io/slice", 1).status().code(),
            StatusCode::kResourceExhausted);
  EXPECT_EQ(metrics_.Get(kMetricAllocations, {{"resource", "gpuslice.io/slice"}}), 2);
}

TEST_F(PluginManagerTest, CriticalXidMarksEverySliceOfTheGpuAndIgnoredOnesDoNot) {
  StartKubelet();
  StartPlugin();
  ASSERT_TRUE(kubelet_->WaitForDevices(
      "gpuslice.io/slice", [](const auto& d) { return AllHealthy(d, 4); }, kWait));
  backend_->InjectXid(gpus_[0].uuid, 43);  // an application error
  backend_->InjectXid(gpus_[1].uuid, 79);  // fell off the bus
  ASSERT_TRUE(kubelet_->WaitForDevices(
      "nvidia.com/gpu", [](const auto& d) { return d.size() == 1 && !d[0].healthy; }, kWait));
  EXPECT_TRUE(AllHealthy(kubelet_->Devices("gpuslice.io/slice"), 4));
  EXPECT_EQ(metrics_.Get(kMetricXidEvents,
                         {{"gpu", gpus_[0].uuid}, {"xid", "43"}, {"critical", "false"}}),
            1);
  backend_->InjectXid(gpus_[0].uuid, 48);
  ASSERT_TRUE(kubelet_->WaitForDevices(
      "gpuslice.io/slice",
      [](const auto& d) {
        return d.size() == 4 &&
               std::none_of(d.begin(), d.end(), [](const auto& x) { return x.healthy; });
      },
      kWait));
  EXPECT_EQ(kubelet_->Allocate("default/a", "main", "gpuslice.io/slice", 1).status().code(),
            StatusCode::kResourceExhausted);
  EXPECT_EQ(metrics_.Get(kMetricGpuHealthy, {{"gpu", gpus_[0].uuid}, {"index", "0"}}), 0);
}

TEST_F(PluginManagerTest, RegistersAgainAfterAKubeletRestart) {
  StartKubelet();
  StartPlugin();
  ASSERT_TRUE(kubelet_->WaitForRegistrations("gpuslice.io/slice", 1, kWait));
  ASSERT_TRUE(kubelet_->WaitForRegistrations("nvidia.com/gpu", 1, kWait));
  ASSERT_TRUE(kubelet_->Restart().ok());
  ASSERT_TRUE(kubelet_->WaitForRegistrations("gpuslice.io/slice", 2, kWait));
  ASSERT_TRUE(kubelet_->WaitForRegistrations("nvidia.com/gpu", 2, kWait));
  ASSERT_TRUE(kubelet_->WaitForDevices(
      "gpuslice.io/slice", [](const auto& d) { return AllHealthy(d, 4); }, kWait));
  EXPECT_TRUE(kubelet_->Allocate("default/a", "main", "gpuslice.io/slice", 1).ok());
  // The restart both deletes the plugin's sockets and creates kubelet.sock, often seen in two
  // inotify reads; a second registration with the same kubelet would be refused, and would
  // keep that socket from ever registering again.
  for (const auto& registration : kubelet_->Registrations()) {
    EXPECT_TRUE(registration.result.ok())
        << registration.resource << " at " << registration.endpoint << ": "
        << registration.result.message();
  }
}

TEST_F(PluginManagerTest, RetriesUntilAKubeletListens) {
  StartPlugin();
  ASSERT_TRUE(Eventually([&] {
    return metrics_.Get(kMetricRegistrations,
                        {{"resource", "gpuslice.io/slice"}, {"result", "failure"}}) >= 2;
  }));
  StartKubelet();
  ASSERT_TRUE(kubelet_->WaitForRegistrations("gpuslice.io/slice", 1, kWait));
}

TEST_F(PluginManagerTest, ServesAndRegistersAgainWhenItsSocketIsDeleted) {
  StartKubelet();
  StartPlugin();
  ASSERT_TRUE(kubelet_->WaitForRegistrations("gpuslice.io/slice", 1, kWait));
  const auto resources = manager_->Resources();
  const auto slice = std::find_if(resources.begin(), resources.end(),
                                  [](const auto& r) { return r.resource == "gpuslice.io/slice"; });
  ASSERT_NE(slice, resources.end());
  fs::remove(slice->socket_path);
  ASSERT_TRUE(kubelet_->WaitForRegistrations("gpuslice.io/slice", 2, kWait));
  // Served at a new path: the kubelet may still be connected to the old one, and refuses a
  // second registration at a path it is connected to.
  const auto now = manager_->Resources();
  const auto again = std::find_if(now.begin(), now.end(),
                                  [](const auto& r) { return r.resource == "gpuslice.io/slice"; });
  ASSERT_NE(again, now.end());
  EXPECT_NE(again->socket_path, slice->socket_path);
  EXPECT_TRUE(fs::exists(again->socket_path));
  ASSERT_TRUE(kubelet_->WaitForDevices(
      "gpuslice.io/slice", [](const auto& d) { return AllHealthy(d, 4); }, kWait));
}

TEST_F(PluginManagerTest, ReloadsAChangedConfigWithoutRestarting) {
  StartKubelet();
  StartPlugin();
  ASSERT_TRUE(kubelet_->WaitForDevices(
      "gpuslice.io/slice", [](const auto& d) { return AllHealthy(d, 4); }, kWait));
  WriteConfig(8);
  ASSERT_TRUE(kubelet_->WaitForDevices(
      "gpuslice.io/slice", [](const auto& d) { return AllHealthy(d, 8); }, kWait));
  // Only one registration: the same server now advertises the new list.
  EXPECT_EQ(kubelet_->Registrations().size(), 2u);
  // An invalid config is rejected and the previous one keeps being served.
  std::ofstream(dir_.Sub("config.yaml")) << "version: v1\nprofiles: [oops\n";
  EXPECT_TRUE(Eventually(
      [&] { return metrics_.Get(kMetricConfigReloads, {{"result", "rejected"}}) == 1; }));
  EXPECT_EQ(kubelet_->Devices("gpuslice.io/slice").size(), 8u);
  // Moving a GPU to another resource name starts and stops servers accordingly.
  WriteConfig(2, "- name: t4\n  match: {models: ['*T4']}\n  resourceName: gpuslice.io/slice\n");
  ASSERT_TRUE(kubelet_->WaitForDevices(
      "gpuslice.io/slice", [](const auto& d) { return AllHealthy(d, 3); }, kWait));
  // The resource that lost its GPUs advertises an empty list before its server stops.
  ASSERT_TRUE(kubelet_->WaitForDevices(
      "nvidia.com/gpu", [](const auto& d) { return d.empty(); }, kWait));
  EXPECT_TRUE(Eventually([&] { return manager_->Resources().size() == 1; }));
}

TEST_F(PluginManagerTest, RemovesRegionsOfFinishedPodsAndSocketsOnStop) {
  StartKubelet();
  StartPlugin();
  ASSERT_TRUE(kubelet_->WaitForDevices(
      "gpuslice.io/slice", [](const auto& d) { return AllHealthy(d, 4); }, kWait));
  Result<kubelet::ContainerAllocation> kept = kubelet_->Allocate("ns/kept", "c", "gpuslice.io/slice", 1);
  Result<kubelet::ContainerAllocation> done = kubelet_->Allocate("ns/done", "c", "gpuslice.io/slice", 1);
  ASSERT_TRUE(kept.ok() && done.ok());
  auto region_of = [](const kubelet::ContainerAllocation& a) {
    for (const auto& mount : a.mounts) {
      if (mount.container_path == "/var/run/gpuslice/region") return mount.host_path;
    }
    return std::string();
  };
  kubelet_->ReleasePod("ns/done");
  EXPECT_TRUE(Eventually([&] { return !fs::exists(region_of(*done)); }));
  EXPECT_TRUE(fs::exists(region_of(*kept)));

  const auto resources = manager_->Resources();
  StopPlugin();
  for (const auto& resource : resources) EXPECT_FALSE(fs::exists(resource.socket_path));
  // The kubelet sees the streams end and stops offering the devices.
  EXPECT_TRUE(kubelet_->WaitForDevices(
      "gpuslice.io/slice",
      [](const auto& d) {
        return std::none_of(d.begin(), d.end(), [](const auto& x) { return x.healthy; });
      },
      kWait));
}

// New slices next to limits handed out under the old slicing would promise the GPU's memory
// twice, so a busy GPU keeps its slicing until its containers are gone.
TEST_F(PluginManagerTest, ReslicesABusyGpuOnlyOnceItsContainersAreGone) {
  StartKubelet();
  StartPlugin();
  ASSERT_TRUE(kubelet_->WaitForDevices(
      "gpuslice.io/slice", [](const auto& d) { return AllHealthy(d, 4); }, kWait));
  ASSERT_TRUE(kubelet_->Allocate("ns/busy", "c", "gpuslice.io/slice", 1).ok());
  const Labels h100 = {{"gpu", gpus_[0].uuid}, {"index", "0"}};
  WriteConfig(8);
  // The reload is counted once it has been applied, just after the GPU is marked pending.
  ASSERT_TRUE(Eventually([&] {
    return metrics_.Get(kMetricReslicePending, h100) == 1 &&
           metrics_.Get(kMetricConfigReloads, {{"result", "applied"}}) == 1;
  }));
  ExpectTheBusyGpuKeepsItsFourSlicesUntilFreed();
}

// A relabel is a reload like any other: the busy GPU keeps its slicing until its containers
// are gone, while the node already names the new config.
TEST_F(PluginManagerTest, ReslicesABusyGpuOnARelabelOnlyOnceItsContainersAreGone) {
  WriteConfig(8, "", "node-eighths.yaml");
  StartKubelet();
  StartPlugin();
  ASSERT_TRUE(kubelet_->WaitForDevices(
      "gpuslice.io/slice", [](const auto& d) { return AllHealthy(d, 4); }, kWait));
  ASSERT_TRUE(kubelet_->Allocate("ns/busy", "c", "gpuslice.io/slice", 1).ok());
  const Labels h100 = {{"gpu", gpus_[0].uuid}, {"index", "0"}};
  manager_->SelectNodeConfig("eighths");
  // The name is published once the config has been applied, just after the GPU is marked
  // pending.
  ASSERT_TRUE(Eventually([&] {
    return metrics_.Get(kMetricReslicePending, h100) == 1 &&
           metrics_.Get(kMetricNodeConfig, {{"name", "eighths"}}) == 1;
  }));
  EXPECT_EQ(metrics_.Get(kMetricConfigReloads, {{"result", "applied"}}), 1);
  ExpectTheBusyGpuKeepsItsFourSlicesUntilFreed();
}

// Moving a busy GPU to another resource name waits too, and its container's region survives
// the cleanup rounds in between.
TEST_F(PluginManagerTest, KeepsTheResourceAndRegionOfABusyGpuThatMoves) {
  StartKubelet();
  StartPlugin();
  ASSERT_TRUE(kubelet_->WaitForDevices(
      "nvidia.com/gpu", [](const auto& d) { return AllHealthy(d, 1); }, kWait));
  Result<kubelet::ContainerAllocation> t4 = kubelet_->Allocate("ns/t4", "c", "nvidia.com/gpu", 1);
  ASSERT_TRUE(t4.ok()) << t4.status().ToString();
  std::string region;
  for (const auto& mount : t4->mounts) {
    if (mount.container_path == "/var/run/gpuslice/region") region = mount.host_path;
  }
  ASSERT_FALSE(region.empty());
  WriteConfig(4, "- name: t4\n  match: {models: ['*T4']}\n  resourceName: gpuslice.io/slice\n");
  ASSERT_TRUE(Eventually([&] {
    return metrics_.Get(kMetricReslicePending, {{"gpu", gpus_[1].uuid}, {"index", "1"}}) == 1;
  }));
  // A finished allocation's directory: once cleanup has removed it, it has also judged the
  // live one.
  fs::create_directories(dir_.Sub("regions/alloc-0-finished"));
  std::ofstream(dir_.Sub("regions/alloc-0-finished/allocation.json"))
      << R"({"resource":"nvidia.com/gpu","deviceIDs":["GPU-gone::0"],"createdUnixMillis":0})";
  ASSERT_TRUE(Eventually([&] { return !fs::exists(dir_.Sub("regions/alloc-0-finished")); }));
  EXPECT_TRUE(fs::exists(region));
  EXPECT_EQ(kubelet_->Devices("nvidia.com/gpu").size(), 1u);
  EXPECT_EQ(kubelet_->Devices("gpuslice.io/slice").size(), 4u);

  kubelet_->ReleasePod("ns/t4");
  ASSERT_TRUE(kubelet_->WaitForDevices(
      "gpuslice.io/slice", [](const auto& d) { return AllHealthy(d, 5); }, kWait));
  // Counted just after the directory goes.
  EXPECT_TRUE(Eventually([&] { return metrics_.Get(kMetricRegionsRemoved, {}) == 2; }));
  EXPECT_FALSE(fs::exists(region));
}

TEST_F(PluginManagerTest, RefusesToStartWhenTheConfigDoesNotFitTheGpus) {
  WriteConfig(4, "- name: all\n  match: {models: ['*']}\n");
  std::ifstream file(dir_.Sub("config.yaml"));
  std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  Result<core::Config> config = core::ParseConfig(text, "config.yaml");
  ASSERT_TRUE(config.ok());
  PluginManager manager({}, *config, *backend_, metrics_, core::SystemClock::Get());
  Status started = manager.Start();
  EXPECT_EQ(started.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(started.message().find("matched by both profile"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir_.Sub("dp")) && !fs::is_empty(dir_.Sub("dp")));
}

TEST_F(PluginManagerTest, ServesThePerNodeConfigTheNodeLabelNamesLive) {
  WriteConfig(2, "", "node-halves.yaml");
  StartKubelet();
  StartPlugin();
  ASSERT_TRUE(kubelet_->WaitForDevices(
      "gpuslice.io/slice", [](const auto& d) { return AllHealthy(d, 4); }, kWait));
  EXPECT_EQ(metrics_.Get(kMetricNodeConfig, {{"name", "default"}}), 1);

  manager_->SelectNodeConfig("halves");
  ASSERT_TRUE(kubelet_->WaitForDevices(
      "gpuslice.io/slice", [](const auto& d) { return AllHealthy(d, 2); }, kWait));
  EXPECT_TRUE(Eventually([&] {
    return metrics_.Get(kMetricNodeConfig, {{"name", "halves"}}) == 1;
  }));
  EXPECT_EQ(metrics_.Get(kMetricNodeConfig, {{"name", "default"}}), 0);
  // The per-node config file is watched like the default one.
  WriteConfig(1, "", "node-halves.yaml");
  ASSERT_TRUE(kubelet_->WaitForDevices(
      "gpuslice.io/slice", [](const auto& d) { return AllHealthy(d, 1); }, kWait));

  // A name without a config, or one that could be a path, changes nothing but the metric.
  for (const std::string name : {"missing", "..", "../config"}) {
    manager_->SelectNodeConfig(name);
    EXPECT_TRUE(Eventually([&] {
      return metrics_.Get(kMetricNodeConfigUnknown, {{"name", name}}) == 1;
    })) << name;
    EXPECT_EQ(kubelet_->Devices("gpuslice.io/slice").size(), 1u);
  }
  EXPECT_EQ(manager_->active_config_path(), dir_.Sub("node-halves.yaml"));

  // Without the label the node serves the default config again.
  manager_->SelectNodeConfig(std::nullopt);
  ASSERT_TRUE(kubelet_->WaitForDevices(
      "gpuslice.io/slice", [](const auto& d) { return AllHealthy(d, 4); }, kWait));
  EXPECT_TRUE(Eventually([&] {
    return metrics_.Get(kMetricNodeConfig, {{"name", "default"}}) == 1;
  }));
  EXPECT_EQ(metrics_.Get(kMetricNodeConfigUnknown, {{"name", "../config"}}), 0);
}

// A per-node config whose file is rejected changes nothing: the node keeps serving, watching
// and naming the config it had, and takes the labelled one once its file is fixed.
TEST_F(PluginManagerTest, KeepsFollowingThePreviousConfigWhenTheLabelledOneIsRejected) {
  WriteConfig(2, "", "node-halves.yaml");
  std::ofstream(dir_.Sub("node-broken.yaml")) << "version: v1\nprofiles: [oops\n";
  StartKubelet();
  StartPlugin();
  manager_->SelectNodeConfig("halves");
  ASSERT_TRUE(kubelet_->WaitForDevices(
      "gpuslice.io/slice", [](const auto& d) { return AllHealthy(d, 2); }, kWait));
  ASSERT_TRUE(Eventually([&] {
    return metrics_.Get(kMetricNodeConfig, {{"name", "halves"}}) == 1;
  }));

  manager_->SelectNodeConfig("broken");
  ASSERT_TRUE(Eventually(
      [&] { return metrics_.Get(kMetricConfigReloads, {{"result", "rejected"}}) == 1; }));
  EXPECT_EQ(kubelet_->Devices("gpuslice.io/slice").size(), 2u);
  EXPECT_EQ(metrics_.Get(kMetricNodeConfig, {{"name", "halves"}}), 1);
  EXPECT_EQ(metrics_.Get(kMetricNodeConfig, {{"name", "broken"}}), 0);
  // The file exists, so the name is not an unknown one.
  EXPECT_EQ(metrics_.Get(kMetricNodeConfigUnknown, {{"name", "broken"}}), 0);

  // An edit of the config still served reaches the node.
  WriteConfig(1, "", "node-halves.yaml");
  ASSERT_TRUE(kubelet_->WaitForDevices(
      "gpuslice.io/slice", [](const auto& d) { return AllHealthy(d, 1); }, kWait));
  EXPECT_EQ(metrics_.Get(kMetricNodeConfig, {{"name", "halves"}}), 1);
  EXPECT_EQ(metrics_.Get(kMetricConfigReloads, {{"result", "rejected"}}), 1);

  // Fixing the labelled file switches the node to it.
  WriteConfig(8, "", "node-broken.yaml");
  ASSERT_TRUE(kubelet_->WaitForDevices(
      "gpuslice.io/slice", [](const auto& d) { return AllHealthy(d, 8); }, kWait));
  EXPECT_TRUE(Eventually([&] {
    return metrics_.Get(kMetricNodeConfig, {{"name", "broken"}}) == 1;
  }));
  EXPECT_EQ(metrics_.Get(kMetricNodeConfig, {{"name", "halves"}}), 0);
  // From then on the node follows the labelled file, not the previous one.
  WriteConfig(3, "", "node-halves.yaml");
  WriteConfig(4, "", "node-broken.yaml");
  ASSERT_TRUE(kubelet_->WaitForDevices(
      "gpuslice.io/slice", [](const auto& d) { return AllHealthy(d, 4); }, kWait));
  StopPlugin();
}

TEST_F(PluginManagerTest, StartsOnThePerNodeConfigItIsGiven) {
  WriteConfig(2, "", "node-halves.yaml");
  StartKubelet();
  StartPlugin([&](PluginManagerOptions& options) { options.node_config = "halves"; });
  EXPECT_EQ(manager_->active_config_path(), dir_.Sub("node-halves.yaml"));
  EXPECT_EQ(metrics_.Get(kMetricNodeConfig, {{"name", "halves"}}), 1);
  // Edits of the per-node file, not of config.yaml, reach the node.
  WriteConfig(1, "", "node-halves.yaml");
  ASSERT_TRUE(kubelet_->WaitForDevices(
      "gpuslice.io/slice", [](const auto& d) { return AllHealthy(d, 1); }, kWait));
}

TEST_F(PluginManagerTest, LeavesGpusInMigModeOutAndCountsThem) {
  gpus_[0].mig_enabled = true;
  backend_ = std::make_unique<testing::FakeGpuBackend>(gpus_);
  StartKubelet();
  StartPlugin();
  ASSERT_TRUE(kubelet_->WaitForDevices(
      "nvidia.com/gpu", [](const auto& d) { return AllHealthy(d, 1); }, kWait));
  EXPECT_TRUE(manager_->Resources().size() == 1 &&
              manager_->Resources()[0].resource == "nvidia.com/gpu");
  EXPECT_EQ(metrics_.Get(kMetricMigExcluded, {{"gpu", gpus_[0].uuid}, {"index", "0"}}), 1);
  EXPECT_EQ(metrics_.Get(kMetricMigExcluded, {{"gpu", gpus_[1].uuid}, {"index", "1"}}), 0);
}

TEST_F(PluginManagerTest, WritesTheSimulatedGpusCdiSpec) {
  fs::create_directories(dir_.Sub("cdi"));
  StartPlugin([&](PluginManagerOptions& options) {
    options.simulated_driver = SimulatedDriver{dir_.Sub("sim/state"), dir_.Sub("cdi")};
  });
  std::ifstream file(SimulatedCdiSpecPath(dir_.Sub("cdi")));
  std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, FormatSimulatedCdiSpec({dir_.Sub("cdi"),
                                          dir_.Sub("lib"),
                                          dir_.Sub("sim/state"),
                                          {gpus_[0].uuid, gpus_[1].uuid}}));
}

}  // namespace
}  // namespace gpuslice::plugin
