// -f/--filename on plan, render and node-sim as users pass it: the real gpuslice binary given
// files, directories and standard input through the flag, alone and beside positional paths,
// and the paths it refuses, each named in the message.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli/input_paths.h"
#include "fakes/subprocess.h"
#include "fakes/temp_dir.h"

namespace gpuslice {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

const std::string kGpuslice = std::string(GPUSLICE_BIN_DIR) + "/gpuslice";

constexpr const char* kNodePool =
    "apiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata: {name: gpu}\nspec:\n  template:\n"
    "    spec:\n      requirements: [{key: karpenter.k8s.aws/instance-family, operator: In, "
    "values: [g5]}]\n";

std::string Pod(const std::string& name) {
  return "apiVersion: v1\nkind: Pod\nmetadata: {name: " + name +
         "}\nspec:\n  tolerations: [{key: nvidia.com/gpu, operator: Exists}]\n  containers:\n"
         "  - name: c\n    resources: {limits: {nvidia.com/gpu: 1}}\n";
}

TEST(JoinInputPaths, PositionalPathsComeFirstThenTheFlagsInOrder) {
  Result<std::vector<std::string>> paths = cli::JoinInputPaths({"a.yaml"}, {"dir", "-"});
  ASSERT_TRUE(paths.ok()) << paths.status().ToString();
  EXPECT_THAT(*paths, ElementsAre("a.yaml", "dir", "-"));
  EXPECT_EQ(cli::DescribeInputPaths(*paths), "3 paths");
  EXPECT_EQ(cli::DescribeInputPaths({"-"}), "standard input");
  EXPECT_EQ(cli::DescribeInputPaths({"pods.yaml"}), "pods.yaml");
}

TEST(JoinInputPaths, StandardInputTwiceOrAnEmptyPathIsRefused) {
  Result<std::vector<std::string>> twice = cli::JoinInputPaths({"-"}, {"-"});
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(twice.status().message(), HasSubstr("standard input (-) is given 2 times"));
  Result<std::vector<std::string>> empty = cli::JoinInputPaths({}, {""});
  ASSERT_FALSE(empty.ok());
  EXPECT_THAT(empty.status().message(), HasSubstr("empty path"));
}

class FilenameFlagTest : public ::testing::Test {
 protected:
  struct Outcome {
    std::optional<int> exit_code;
    std::string output;
  };

  Outcome Run(std::vector<std::string> args) {
    args.insert(args.begin(), kGpuslice);
    testing::Subprocess process(args, {}, dir_.Sub("out.txt"));
    return {process.Wait(120s), process.Output()};
  }

  Outcome Shell(const std::string& command) {
    testing::Subprocess process({"/bin/sh", "-c", command}, {}, dir_.Sub("out.txt"));
    return {process.Wait(120s), process.Output()};
  }

  void Write(const std::string& name, const std::string& text) {
    std::filesystem::create_directories(std::filesystem::path(dir_.Sub(name)).parent_path());
    std::ofstream(dir_.Sub(name)) << text;
  }

  // The pods `gpuslice plan` counted, from its JSON; -1 when it did not succeed.
  int PlannedPods(const Outcome& run) {
    EXPECT_EQ(run.exit_code, 0) << run.output;
    if (run.exit_code != 0) return -1;
    return nlohmann::json::parse(run.output)["pods"].get<int>();
  }

  bool HaveNodeSim() const {
    return std::filesystem::exists(std::string(GPUSLICE_LIB_DIR) + "/libgpuslice-sim-nvml.so");
  }

  testing::TempDir dir_;
};

TEST_F(FilenameFlagTest, PlanReadsFilesDirectoriesAndStandardInputThroughTheFlag) {
  Write("pool.yaml", kNodePool);
  Write("pods/a.yaml", Pod("a"));
  Write("pods/b.yml", Pod("b"));
  Write("pods/c.json", R"({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "c"},
    "spec": {"containers": [{"name": "c", "resources": {"limits": {"nvidia.com/gpu": 1}}}]}})");
  Write("pods/notes.txt", "not a manifest");
  Write("stdin.yaml", Pod("d"));
  const std::vector<std::string> common = {"plan", "--no-optimal", "-o", "json"};
  auto with = [&](std::vector<std::string> args) {
    args.insert(args.begin(), common.begin(), common.end());
    return args;
  };
  EXPECT_EQ(PlannedPods(Run(with({"-f", dir_.Sub("pool.yaml"), "-f", dir_.Sub("pods")}))), 3);
  EXPECT_EQ(PlannedPods(Run(with({"--filename", dir_.Sub("pods"), dir_.Sub("pool.yaml")}))), 3);
  EXPECT_EQ(PlannedPods(
                Run(with({"--filename=" + dir_.Sub("pods/a.yaml"), "-f" + dir_.Sub("pool.yaml")}))),
            1);
  EXPECT_EQ(PlannedPods(Shell(kGpuslice + " plan --no-optimal -o json -f - -f " +
                              dir_.Sub("pool.yaml") + " < " + dir_.Sub("stdin.yaml"))),
            1);
  // The table names where the pods came from.
  Write("both.yaml", Pod("e") + "---\n" + kNodePool);
  const Outcome table = Shell(kGpuslice + " plan --no-optimal -f - < " + dir_.Sub("both.yaml"));
  EXPECT_EQ(table.exit_code, 0) << table.output;
  EXPECT_THAT(table.output, HasSubstr("1 pods from standard input"));
}

TEST_F(FilenameFlagTest, EachFlagTakesOnePathSoOthersStayPositional) {
  Write("pool.yaml", kNodePool);
  Write("a.yaml", Pod("a"));
  EXPECT_EQ(PlannedPods(Run({"plan", "--no-optimal", "-o", "json", "-f", dir_.Sub("a.yaml"),
                             dir_.Sub("pool.yaml")})),
            1);
}

TEST_F(FilenameFlagTest, BadPathsAreNamedAndExitWithTwo) {
  Write("pool.yaml", kNodePool);
  std::filesystem::create_directories(dir_.Sub("empty"));
  for (const char* command : {"plan", "render"}) {
    const Outcome missing = Run({command, "-f", dir_.Sub("pool.yaml"), "-f", dir_.Sub("nope")});
    EXPECT_EQ(missing.exit_code, 2) << command << ": " << missing.output;
    EXPECT_THAT(missing.output, HasSubstr(dir_.Sub("nope") + ": no such file or directory"));
    const Outcome empty = Run({command, "-f", dir_.Sub("empty")});
    EXPECT_EQ(empty.exit_code, 2) << command << ": " << empty.output;
    EXPECT_THAT(empty.output, HasSubstr(dir_.Sub("empty")));
    const Outcome twice = Run({command, "-f", "-", "-"});
    EXPECT_EQ(twice.exit_code, 2) << command << ": " << twice.output;
    EXPECT_THAT(twice.output, HasSubstr("standard input (-) is given 2 times"));
    const Outcome no_value = Run({command, "-f"});
    EXPECT_EQ(no_value.exit_code, 2) << command << ": " << no_value.output;
  }
}

TEST_F(FilenameFlagTest, RenderReadsNodePoolsThroughTheFlag) {
  Write("in/pool.yaml", kNodePool);
  const Outcome run = Run({"render", "-f", dir_.Sub("in"), "--slices", "4", "-o", "json"});
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const nlohmann::json out = nlohmann::json::parse(run.output);
  ASSERT_FALSE(out["instanceTypes"].empty());
  for (const nlohmann::json& type : out["instanceTypes"]) EXPECT_EQ(type["nodePool"], "gpu");
}

TEST_F(FilenameFlagTest, NodeSimPlacesThePodsOfTheFlagsFiles) {
  if (!HaveNodeSim()) GTEST_SKIP() << "the simulated NVML is not built";
  Write("pods/a.yaml", Pod("a"));
  Write("b.yaml", Pod("b"));
  const Outcome run = Shell(kGpuslice + " node-sim --simulate 1xH100-80GB -o json -f " +
                            dir_.Sub("pods") + " --filename - < " + dir_.Sub("b.yaml"));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const nlohmann::json out = nlohmann::json::parse(run.output);
  ASSERT_EQ(out["containers"].size(), 2u) << out.dump();
  EXPECT_EQ(out["containers"][0]["pod"], "default/a");
  EXPECT_EQ(out["containers"][1]["pod"], "default/b");
  const Outcome missing = Run({"node-sim", "-f", dir_.Sub("nope.yaml")});
  EXPECT_EQ(missing.exit_code, 2) << missing.output;
  EXPECT_THAT(missing.output, HasSubstr(dir_.Sub("nope.yaml")));
}

}  // namespace
}  // namespace gpuslice
