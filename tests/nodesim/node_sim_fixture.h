// What the node-sim tests share: manifests from text and a NodeSim on simulated GPUs started
// with the libraries this build made.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>

#include "core/config.h"
#include "kube/manifest.h"
#include "nodesim/node_sim.h"

namespace gpuslice::nodesim {

inline constexpr uint64_t kMiB = uint64_t{1} << 20;
inline const std::string kLibDir = GPUSLICE_LIB_DIR;

inline kube::Manifests Pods(const std::string& yaml) {
  kube::Manifests manifests;
  Status parsed = kube::ParseManifests(yaml, "pods.yaml", &manifests);
  EXPECT_TRUE(parsed.ok()) << parsed.ToString();
  return manifests;
}

inline std::string Pod(const std::string& name, const std::string& limits, int containers = 1) {
  std::string yaml = "apiVersion: v1\nkind: Pod\nmetadata: {name: " + name + "}\nspec:\n  containers:\n";
  for (int i = 0; i < containers; ++i) {
    yaml += "  - name: c" + std::to_string(i) + "\n    resources: {limits: {" + limits + "}}\n";
  }
  return yaml + "---\n";
}

class NodeSimTest : public ::testing::Test {
 protected:
  std::unique_ptr<NodeSim> Start(const std::string& config_yaml, const std::string& spec) {
    if (!std::filesystem::exists(kLibDir + "/libgpuslice-sim-nvml.so") ||
        !std::filesystem::exists(kLibDir + "/libgpuslice.so")) {
      return nullptr;
    }
    Result<core::Config> config = core::ParseConfig(config_yaml, "config.yaml");
    EXPECT_TRUE(config.ok()) << config.status().ToString();
    NodeSimOptions options;
    options.config = *config;
    options.gpu_spec = spec;
    options.nvml_library = kLibDir + "/libgpuslice-sim-nvml.so";
    options.library_dir = kLibDir;
    Result<std::unique_ptr<NodeSim>> node = NodeSim::Start(std::move(options));
    EXPECT_TRUE(node.ok()) << node.status().ToString();
    return node.ok() ? std::move(*node) : nullptr;
  }
};

}  // namespace gpuslice::nodesim
