// The real gpuslice-device-plugin on SimFixture's simulated A100-40GB, sliced in four and
// registered with the kubelet stand-in over its unix sockets: the tests that start client
// processes with exactly the environment the plugin's Allocate returned.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "fakes/subprocess.h"
#include "kubelet/device_manager.h"
#include "preload/client_process.h"
#include "preload/sim_fixture.h"

namespace gpuslice::testing {

class PluginFixture : public SimFixture {
 protected:
  static constexpr int kSlicesPerGpu = 4;
  static constexpr uint64_t kSliceOfGpu = kGpuBytes / kSlicesPerGpu;
  static constexpr std::chrono::seconds kWait{30};

  // `gpu_fields` as for SimFixture. Without `pod_resources` the kubelet stand-in serves no
  // PodResources socket and the plugin is pointed at none: it cannot list containers, so it
  // counts every region it recorded as live and collects none.
  explicit PluginFixture(const std::string& gpu_fields = "", bool pod_resources = true)
      : SimFixture(gpu_fields), pod_resources_(pod_resources) {}

  void SetUp() override {
    const std::string dir = node().directory();
    std::ofstream(dir + "/plugin.yaml")
        << "version: v1\n"
        << "library: {hostDir: " << GPUSLICE_LIB_DIR << "}\n"
        << "regionsDir: " << dir << "/regions\n"
        << "profiles:\n- name: a100\n  match: {models: ['*A100*']}\n"
        << "  slices: " << kSlicesPerGpu << "\n";
    std::filesystem::create_directories(dir + "/dp");
    std::filesystem::create_directories(dir + "/pr");
    const std::string pod_resources_socket = pod_resources_ ? dir + "/pr/kubelet.sock" : "";
    auto kubelet = kubelet::DeviceManager::Start({dir + "/dp", pod_resources_socket});
    ASSERT_TRUE(kubelet.ok()) << kubelet.status().ToString();
    kubelet_ = std::move(*kubelet);
    std::vector<std::string> args = {std::string(GPUSLICE_BIN_DIR) + "/gpuslice-device-plugin",
                                     "--config=" + dir + "/plugin.yaml",
                                     "--device-plugin-dir=" + dir + "/dp",
                                     "--simulate=" + node().spec(),
                                     "--simulate-state=" + node().state_path(),
                                     "--metrics-address=127.0.0.1:0"};
    if (pod_resources_) args.push_back("--pod-resources-socket=" + pod_resources_socket);
    plugin_ = std::make_unique<Subprocess>(
        args,
        std::map<std::string, std::optional<std::string>>{{"NVIDIA_VISIBLE_DEVICES", std::nullopt}},
        dir + "/plugin.log");
    ASSERT_TRUE(kubelet_->WaitForDevices(
        "nvidia.com/gpu", [](const auto& devices) { return devices.size() == kSlicesPerGpu; },
        kWait))
        << plugin_->Output();
    const std::string marker = "metrics and health on port ";
    for (int i = 0; i < 3000 && port_ < 0; ++i) {
      const std::string output = plugin_->Output();
      const size_t at = output.find(marker);
      if (at != std::string::npos) {
        port_ = std::atoi(output.c_str() + at + marker.size());
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
    ASSERT_GT(port_, 0) << plugin_->Output();
  }

  // The container environment of an allocation of `slices` slices to container "main" of `pod`
  // ("namespace/name"): the response's envs, with each container path the response mounts (the
  // region, the simulated driver's state) replaced by the mount's host side, since the clients
  // run on the host. (There is no limits file there: the clients read the environment.)
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
    EXPECT_TRUE(std::filesystem::exists(env["GPUSLICE_REGION"])) << "no mount holds the region";
    return env;
  }

  std::unique_ptr<kubelet::DeviceManager> kubelet_;
  std::unique_ptr<Subprocess> plugin_;
  int port_ = -1;  // the plugin's metrics and health port

 private:
  bool pod_resources_;
};

}  // namespace gpuslice::testing
