// `gpuslice node-sim` as users run it: the real binary, its exit codes and its output.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "fakes/subprocess.h"
#include "fakes/temp_dir.h"

namespace gpuslice {
namespace {

using namespace std::chrono_literals;
const std::string kGpuslice = std::string(GPUSLICE_BIN_DIR) + "/gpuslice";

class NodeSimCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(std::string(GPUSLICE_LIB_DIR) + "/libgpuslice-sim-nvml.so")) {
      GTEST_SKIP() << "the simulated NVML is not built";
    }
  }
  testing::Subprocess Run(std::vector<std::string> args) {
    args.insert(args.begin(), kGpuslice);
    return testing::Subprocess(args, {}, dir_.Sub("out.txt"));
  }
  testing::TempDir dir_;
};

TEST_F(NodeSimCommandTest, BuiltInExamplePrintsPlacementsAndMisfits) {
  auto run = Run({"node-sim"});
  ASSERT_EQ(run.Wait(120s), 0) << run.Output();
  const std::string out = run.Output();
  EXPECT_NE(out.find("default/chat-0"), std::string::npos) << out;
  EXPECT_NE(out.find("Pods that would not fit:"), std::string::npos);
  EXPECT_NE(out.find("default/batch-0: container worker: insufficient nvidia.com/gpu"),
            std::string::npos);
  EXPECT_NE(out.find("6 container(s) placed on 3 of 3 GPU(s); 2 pod(s) would not fit"),
            std::string::npos);
}

TEST_F(NodeSimCommandTest, JsonOutputForTheUsersOwnFiles) {
  std::ofstream(dir_.Sub("config.yaml")) << "version: v1\ndefaultProfile: {slices: 2}\n";
  std::ofstream(dir_.Sub("pods.yaml"))
      << "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: prod}\nspec:\n"
         "  replicas: 3\n  template:\n    spec:\n      containers:\n      - name: app\n"
         "        resources: {limits: {nvidia.com/gpu: 1}}\n";
  auto run = Run({"node-sim", dir_.Sub("pods.yaml"), "--config", dir_.Sub("config.yaml"),
                  "--simulate", "1xL4", "-o", "json"});
  ASSERT_EQ(run.Wait(120s), 0) << run.Output();
  const nlohmann::json out = nlohmann::json::parse(run.Output());
  ASSERT_EQ(out["containers"].size(), 2u);
  EXPECT_EQ(out["containers"][0]["pod"], "prod/web-0");
  EXPECT_EQ(out["containers"][0]["gpus"][0]["computePercent"], 50);
  ASSERT_EQ(out["unschedulable"].size(), 1u);
  EXPECT_EQ(out["unschedulable"][0]["pod"], "prod/web-2");
  EXPECT_EQ(out["node"]["gpus"][0]["slices"], 2);
}

TEST_F(NodeSimCommandTest, InvalidInputExitsWithTwo) {
  std::ofstream(dir_.Sub("bad.yaml")) << "version: v2\n";
  auto bad_config = Run({"node-sim", "--config", dir_.Sub("bad.yaml")});
  EXPECT_EQ(bad_config.Wait(60s), 2);
  EXPECT_NE(bad_config.Output().find("bad.yaml:1:10: version"), std::string::npos)
      << bad_config.Output();
  auto missing = Run({"node-sim", dir_.Sub("missing.yaml")});
  EXPECT_EQ(missing.Wait(60s), 2);
  auto help = Run({"node-sim", "--help"});
  EXPECT_EQ(help.Wait(60s), 0);
  EXPECT_NE(help.Output().find("--simulate"), std::string::npos);
}

}  // namespace
}  // namespace gpuslice
