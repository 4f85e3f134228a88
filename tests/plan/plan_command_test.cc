// `gpuslice plan` and `gpuslice render` as users run them: the real binary in a child process.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace gpuslice {
namespace {

using ::testing::HasSubstr;

struct Outcome {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string Slurp(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

class CommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("gpuslice-plan-cli-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  Outcome Gpuslice(std::vector<std::string> args) {
    const std::string out_path = (dir_ / "stdout").string();
    const std::string err_path = (dir_ / "stderr").string();
    const pid_t pid = ::fork();
    if (pid == 0) {
      std::freopen(out_path.c_str(), "w", stdout);
      std::freopen(err_path.c_str(), "w", stderr);
      std::vector<char*> argv;
      const std::string binary = std::string(GPUSLICE_BIN_DIR) + "/gpuslice";
      argv.push_back(const_cast<char*>(binary.c_str()));
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(binary.c_str(), argv.data());
      ::_exit(127);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, Slurp(out_path), Slurp(err_path)};
  }

  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
  }

  std::filesystem::path dir_;
};

TEST_F(CommandTest, PlanWithoutPathsPlansTheBundledExamplesAsATable) {
  Outcome run = Gpuslice({"plan"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("20 pods from the bundled examples"));
  EXPECT_THAT(run.out, HasSubstr("on-demand prices of 2026-07-20"));
  for (const char* scenario : {"\nwhole ", "\nsliced ", "\noptimal "}) {
    EXPECT_THAT(run.out, HasSubstr(scenario));
  }
}

TEST_F(CommandTest, PlanJsonHasTheDocumentedShape) {
  Outcome run = Gpuslice({"plan", "-o", "json"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const nlohmann::json doc = nlohmann::json::parse(run.out);
  ASSERT_EQ(doc["scenarios"].size(), 3u);
  const std::vector<std::string> names = {"whole", "sliced", "optimal"};
  for (size_t i = 0; i < 3; ++i) {
    const nlohmann::json& s = doc["scenarios"][i];
    EXPECT_EQ(s["name"], names[i]);
    EXPECT_TRUE(s["costPerHour"].is_number());
    EXPECT_TRUE(s["gpus"].is_number());
    EXPECT_TRUE(s["unschedulable"].is_array());
    ASSERT_FALSE(s["nodes"].empty());
    EXPECT_TRUE(s["nodes"][0]["instanceType"].is_string());
    EXPECT_TRUE(s["nodes"][0]["count"].is_number());
    EXPECT_TRUE(s["nodes"][0]["costPerHour"].is_number());
  }
}

TEST_F(CommandTest, PlanListsTheUnschedulablePodAndItsReason) {
  Write("pool.yaml",
        "apiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata: {name: gpu}\nspec:\n  template:\n"
        "    spec:\n      requirements: [{key: karpenter.k8s.aws/instance-family, operator: In, "
        "values: [p3]}]\n      taints: [{key: nvidia.com/gpu, value: \"true\", effect: "
        "NoSchedule}]\n");
  Write("pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: lost}\nspec:\n  containers:\n  - name: c\n"
        "    resources: {limits: {nvidia.com/gpu: 1}}\n");
  Outcome run =
      Gpuslice({"plan", dir_.string() + "/pool.yaml", dir_.string() + "/pod.yaml", "-o", "yaml"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("pod: default/lost"));
  EXPECT_THAT(run.out, HasSubstr("does not tolerate taint nvidia.com/gpu=true:NoSchedule"));
}

TEST_F(CommandTest, InvalidInputExitsWithTwoAndSaysWhy) {
  Write("bad.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: 3}\n");
  Outcome bad = Gpuslice({"plan", dir_.string() + "/bad.yaml"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.err, HasSubstr("bad.yaml: document 1 (Pod default/p): line 4: spec.containers"));
  Outcome flags = Gpuslice({"plan", "--slices", "4", "--slice-memory", "8Gi"});
  EXPECT_EQ(flags.exit_code, 2);
  Outcome memory = Gpuslice({"plan", "--slice-memory", "lots"});
  EXPECT_EQ(memory.exit_code, 2);
  EXPECT_THAT(memory.err, HasSubstr("--slice-memory"));
}

TEST_F(CommandTest, RenderWritesFilesPlanReadsBack) {
  Outcome render =
      Gpuslice({"render", "--slices", "v100=4", "--output-dir", (dir_ / "out").string()});
  ASSERT_EQ(render.exit_code, 0) << render.err;
  EXPECT_THAT(render.out, HasSubstr("p3.8xlarge"));
  EXPECT_TRUE(std::filesystem::exists(dir_ / "out" / "nodepools.yaml"));
  EXPECT_THAT(Slurp(dir_ / "out" / "nodeoverlays.yaml"), HasSubstr("kind: NodeOverlay"));
  EXPECT_THAT(Slurp(dir_ / "out" / "values.yaml"), HasSubstr("config:\n  version: v1"));

  Write("pods.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: w}\nspec:\n  replicas: 12\n"
        "  template:\n    spec:\n      tolerations: [{key: nvidia.com/gpu, operator: Exists}]\n"
        "      containers: [{name: c, resources: {limits: {nvidia.com/gpu: 1}}}]\n");
  Outcome plan =
      Gpuslice({"plan", (dir_ / "pods.yaml").string(), (dir_ / "out/nodepools.yaml").string(),
                (dir_ / "out/nodeoverlays.yaml").string(), "--config",
                (dir_ / "out/values.yaml").string(), "-o", "json"});
  ASSERT_EQ(plan.exit_code, 0) << plan.err;
  const nlohmann::json doc = nlohmann::json::parse(plan.out);
  EXPECT_TRUE(doc["warnings"].empty()) << doc["warnings"].dump();
  EXPECT_EQ(doc["scenarios"][0]["gpus"], 12);
  EXPECT_EQ(doc["scenarios"][2]["gpus"], 3);
}

}  // namespace
}  // namespace gpuslice
