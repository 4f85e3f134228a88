// libgpuslice.so with a real Allocate response: the device plugin (gpuslice-device-plugin on
// the simulated GPUs, driven by the kubelet stand-in over its unix sockets) allocates slices,
// and clients started with exactly the environment it returned are held to them.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "fakes/subprocess.h"
#include "kubelet/device_manager.h"
#include "preload/client_process.h"
#include "preload/sim_fixture.h"
#include "sim/state.h"

namespace gpuslice::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr auto kWait = 30s;
constexpr int kSlicesPerGpu = 4;

uint64_t Free(ClientProcess& client) {
  std::istringstream answer(client.Send("info"));
  std::string word;
  uint64_t free = 0;
  answer >> word >> free;
  EXPECT_EQ(word, "info");
  return free;
}

class EndToEndTest : public SimFixture {
 protected:
  // A short launch queue keeps what a process has queued close to what NVML has measured.
  EndToEndTest() : SimFixture("    launchQueueDepth: 4\n") {}

  void SetUp() override {
    const std::string dir = node().directory();
    std::ofstream(dir + "/plugin.yaml")
        << "version: v1\n"
        << "library: {hostDir: " << GPUSLICE_LIB_DIR << "}\n"
        << "regionsDir: " << dir << "/regions\n"
        << "profiles:\n- name: a100\n  match: {models: ['*A100*']}\n"
        << "  slices: " << kSlicesPerGpu << "\n";
    fs::create_directories(dir + "/dp");
    auto kubelet = kubelet::DeviceManager::Start({dir + "/dp", ""});
    ASSERT_TRUE(kubelet.ok()) << kubelet.status().ToString();
    kubelet_ = std::move(*kubelet);
    plugin_ = std::make_unique<Subprocess>(
        std::vector<std::string>{
            std::string(GPUSLICE_BIN_DIR) + "/gpuslice-device-plugin",
            "--config=" + dir + "/plugin.yaml", "--device-plugin-dir=" + dir + "/dp",
            "--simulate=" + node().spec(), "--simulate-state=" + node().state_path(),
            "--metrics-address=127.0.0.1:0"},
        std::map<std::string, std::optional<std::string>>{{"NVIDIA_VISIBLE_DEVICES", std::nullopt}},
        dir + "/plugin.log");
    ASSERT_TRUE(kubelet_->WaitForDevices(
        "nvidia.com/gpu", [](const auto& devices) { return devices.size() == kSlicesPerGpu; },
        kWait))
        << plugin_->Output();
  }

  // The container environment of an allocation of `slices` slices: the response's envs, with
  // each container path the response mounts (the region, the simulated driver's state) where
  // the mount's host side is. (The clients run on the host, where there is no limits file:
  // they read the environment.)
  Environment Allocate(const std::string& pod, int slices) {
    Result<kubelet::ContainerAllocation> allocation =
        kubelet_->Allocate(pod, "main", "nvidia.com/gpu", slices);
    EXPECT_TRUE(allocation.ok()) << allocation.status().ToString();
    if (!allocation.ok()) return {};
    Environment env(allocation->envs.begin(), allocation->envs.end());
    for (auto& [name, value] : env) {
      for (const kubelet::Mount& mount : allocation->mounts) {
        if (value.rfind(mount.container_path, 0) == 0) {
          value = mount.host_path + value.substr(mount.container_path.size());
        }
      }
    }
    EXPECT_TRUE(fs::exists(env["GPUSLICE_REGION"])) << "no mount holds the region";
    return env;
  }

  std::unique_ptr<kubelet::DeviceManager> kubelet_;
  std::unique_ptr<Subprocess> plugin_;
};

TEST_F(EndToEndTest, ClientsAreHeldToTheSlicesTheDevicePluginAllocated) {
  const Environment two_slices = Allocate("default/trainer", 2);
  const Environment one_slice = Allocate("default/server", 1);
  ASSERT_FALSE(two_slices.empty() || one_slice.empty());
  const uint64_t slice_bytes = kGpuBytes / kSlicesPerGpu;
  EXPECT_EQ(std::stoull(two_slices.at("GPUSLICE_MEMORY_LIMIT_0")), 2 * slice_bytes);
  EXPECT_EQ(one_slice.at("GPUSLICE_COMPUTE_LIMIT_0"), "25");

  // Two processes of the two-slice container share its limit.
  auto first = ClientProcess::Start(kDirectClient, node(), two_slices);
  auto second = ClientProcess::Start(kCudartClient, node(), two_slices);
  auto other = ClientProcess::Start(kCublasClient, node(), one_slice);
  ASSERT_TRUE(first && second && other);
  for (ClientProcess* client : {first.get(), second.get(), other.get()}) {
    ASSERT_EQ(client->Send("init"), "ok");
  }
  const uint64_t free = Free(*first);
  EXPECT_EQ(free, 2 * slice_bytes - 2 * kContextBytes);
  EXPECT_EQ(first->Send("alloc plain " + std::to_string(free / 2)).rfind("ok", 0), 0u);
  EXPECT_EQ(second->Send("alloc plain " + std::to_string(free - free / 2)).rfind("ok", 0), 0u);
  EXPECT_EQ(second->Send("alloc plain 1"), "err 2");
  EXPECT_EQ(Free(*first), 0u);

  // The neighbour is untouched, and held to its own slice and share.
  EXPECT_EQ(Free(*other), slice_bytes - kContextBytes);
  EXPECT_EQ(other->Send("alloc plain " + std::to_string(slice_bytes)), "err 2");
  const auto start = std::chrono::steady_clock::now();
  const std::string burn = other->Send("burn 1000");
  const double elapsed =
      std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();
  ASSERT_EQ(burn.rfind("ok", 0), 0u) << burn;
  auto state = sim::SimState::Open(node().state_path());
  ASSERT_TRUE(state.ok());
  uint64_t busy = 0;
  for (const sim::ProcessUsage& process : (*state)->Usage(0).processes) {
    if (process.pid == other->pid()) busy = process.busy_ns;
  }
  EXPECT_LT(100 * static_cast<double>(busy) / elapsed, 30);
}

}  // namespace
}  // namespace gpuslice::testing
