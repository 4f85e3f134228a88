// The chart's PrometheusRule: rendered only where the Prometheus Operator's API exists, and
// its rules checked and unit-tested by the real promtool (Prometheus's own rule checker and
// evaluator), so every expression parses and each alert fires on the series the plugin
// exports, and only then.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <yaml-cpp/yaml.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "fakes/temp_dir.h"

namespace gpuslice {
namespace {

const std::string kChart = std::string(GPUSLICE_SOURCE_DIR) + "/deploy/helm/gpuslice";

struct CommandRun {
  int exit_code;
  std::string output;
};

CommandRun Command(const std::string& command) {
  CommandRun run{-1, ""};
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return run;
  std::array<char, 4096> buffer{};
  size_t n = 0;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) run.output.append(buffer.data(), n);
  const int status = pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

// Series labels as the plugin exports them for one container's GPU.
constexpr const char* kContainer =
    R"({namespace="team-a",pod="trainer",container="main",gpu="GPU-1",resource="nvidia.com/gpu"})";

class PrometheusRuleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (system("helm version >/dev/null 2>&1") != 0) {
      GTEST_SKIP() << "helm is not installed (scripts/setup.sh --test-tools installs it)";
    }
  }

  // The PrometheusRule the chart renders with `extra` helm arguments; a null node (no map) when
  // it renders none.
  YAML::Node RenderRule(const std::string& extra) {
    CommandRun run = Command("helm template test " + kChart + " --namespace gpu-system " + extra);
    EXPECT_EQ(run.exit_code, 0) << run.output;
    for (const YAML::Node& document : YAML::LoadAll(run.output)) {
      if (document.IsMap() && document["kind"] &&
          document["kind"].as<std::string>() == "PrometheusRule") {
        return document;
      }
    }
    return YAML::Node();
  }

  // Writes the rule's groups as a Prometheus rule file and returns its path.
  std::string WriteRuleFile(const YAML::Node& rule) {
    YAML::Node file;
    file["groups"] = rule["spec"]["groups"];
    YAML::Emitter out;
    out << file;
    const std::string path = dir_.Sub("rules.yaml");
    std::ofstream(path) << out.c_str() << "\n";
    return path;
  }

  // Renders the PrometheusRule with `extra` helm arguments into rules.yaml, where `promtool
  // check rules` must find exactly `rules` rules.
  void CheckRules(const std::string& extra, int rules) {
    const YAML::Node rule = RenderRule(extra);
    ASSERT_TRUE(rule.IsMap());
    CommandRun check = Command("promtool check rules " + WriteRuleFile(rule));
    ASSERT_EQ(check.exit_code, 0) << check.output;
    EXPECT_NE(check.output.find("SUCCESS: " + std::to_string(rules) + " rules found"),
              std::string::npos)
        << check.output;
  }

  // `promtool test rules` of the unit tests `tests` (a test file over rules.yaml) must pass.
  void TestRules(const std::string& tests) {
    std::ofstream(dir_.Sub("test.yaml")) << tests;
    CommandRun test = Command("cd " + dir_.path() + " && promtool test rules test.yaml");
    EXPECT_EQ(test.exit_code, 0) << test.output;
  }

  testing::TempDir dir_;
};

TEST_F(PrometheusRuleTest, RenderedOnlyWhereTheOperatorsApiExists) {
  EXPECT_FALSE(RenderRule("").IsMap());
  EXPECT_TRUE(RenderRule("--api-versions monitoring.coreos.com/v1").IsMap());
  EXPECT_FALSE(RenderRule("--api-versions monitoring.coreos.com/v1 "
                          "--set metrics.prometheusRule.enabled=false")
                   .IsMap());
  EXPECT_TRUE(RenderRule("--api-versions monitoring.coreos.com/v1 --set mode=dra").IsMap());
  const YAML::Node labelled = RenderRule(
      "--api-versions monitoring.coreos.com/v1 "
      "--set metrics.prometheusRule.labels.release=kube-prometheus-stack");
  ASSERT_TRUE(labelled.IsMap());
  EXPECT_EQ(labelled["metadata"]["labels"]["release"].as<std::string>(), "kube-prometheus-stack");
}

TEST_F(PrometheusRuleTest, PromtoolAcceptsTheRulesAndEachAlertFiresOnlyWhenItShould) {
  if (system("promtool --version >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "promtool is not installed (Debian package prometheus)";
  }
  ASSERT_NO_FATAL_FAILURE(CheckRules("--api-versions monitoring.coreos.com/v1", 4));

  const std::string c = kContainer;
  const std::string other =
      R"({namespace="team-a",pod="server",container="main",gpu="GPU-1",resource="nvidia.com/gpu"})";
  TestRules(R"(rule_files: [rules.yaml]
evaluation_interval: 1m
tests:
- interval: 1m
  input_series:
  - {series: 'gpuslice_container_memory_used_bytes)" + c + R"(', values: '95x10'}
  - {series: 'gpuslice_container_memory_limit_bytes)" + c + R"(', values: '100x10'}
  - {series: 'gpuslice_container_memory_used_bytes)" + other + R"(', values: '80x10'}
  - {series: 'gpuslice_container_memory_limit_bytes)" + other + R"(', values: '100x10'}
  - {series: 'gpuslice_container_oom_refusals_total)" + c + R"(', values: '0 0 0 1 1 1 1 1 1 1 1'}
  - {series: 'gpuslice_container_oom_refusals_total)" + other + R"(', values: '3x10'}
  - {series: 'gpuslice_gpu_healthy{gpu="GPU-1",index="0",instance="node-a"}', values: '1 1 0x8'}
  - {series: 'gpuslice_gpu_healthy{gpu="GPU-2",index="1",instance="node-a"}', values: '1x10'}
  - {series: 'gpuslice_gpu_reslice_pending{gpu="GPU-1",index="0",instance="node-a"}', values: '1x40'}
  alert_rule_test:
  - eval_time: 3m
    alertname: GpusliceContainerMemoryHigh
  - eval_time: 6m
    alertname: GpusliceContainerMemoryHigh
    exp_alerts:
    - exp_labels: {severity: warning, namespace: team-a, pod: trainer, container: main, gpu: GPU-1, resource: nvidia.com/gpu}
      exp_annotations:
        summary: Container team-a/trainer/main uses over 90% of its GPU memory slice
        description: On GPU GPU-1 it holds 95% of its memory limit; its next allocations may be refused.
  - eval_time: 2m
    alertname: GpusliceContainerOomRefusals
  - eval_time: 5m
    alertname: GpusliceContainerOomRefusals
    exp_alerts:
    - exp_labels: {severity: warning, namespace: team-a, pod: trainer, container: main, gpu: GPU-1, resource: nvidia.com/gpu}
      exp_annotations:
        summary: Container team-a/trainer/main had GPU allocations refused
        description: 1 allocations on GPU GPU-1 were refused in the last 10m because they would have passed the container's memory limit.
  - eval_time: 4m
    alertname: GpusliceGpuUnhealthy
    exp_alerts:
    - exp_labels: {severity: critical, gpu: GPU-1, index: "0", instance: node-a}
      exp_annotations:
        summary: GPU GPU-1 on node-a is unhealthy
        description: Its slices are advertised unhealthy, so no new container gets them.
  - eval_time: 20m
    alertname: GpusliceReslicePending
  - eval_time: 35m
    alertname: GpusliceReslicePending
    exp_alerts:
    - exp_labels: {severity: info, gpu: GPU-1, index: "0", instance: node-a}
      exp_annotations:
        summary: GPU GPU-1 on node-a keeps its old slicing
        description: Containers still hold slices of it, so the configured slicing waits until they end.
)");
}

// DRA mode keeps the per-container alerts only, and they fire on the DRA series (which add a
// claim label) as on the device plugin's.
TEST_F(PrometheusRuleTest, DraModesRulesPassPromtoolAndFireOnClaimSeries) {
  if (system("promtool --version >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "promtool is not installed (Debian package prometheus)";
  }
  ASSERT_NO_FATAL_FAILURE(CheckRules("--api-versions monitoring.coreos.com/v1 --set mode=dra", 2));

  const std::string c =
      R"({namespace="team-a",pod="trainer",container="main",gpu="GPU-1",resource="gpu.gpuslice.io",claim="trainer-gpu"})";
  TestRules(R"(rule_files: [rules.yaml]
evaluation_interval: 1m
tests:
- interval: 1m
  input_series:
  - {series: 'gpuslice_container_memory_used_bytes)" + c + R"(', values: '95x10'}
  - {series: 'gpuslice_container_memory_limit_bytes)" + c + R"(', values: '100x10'}
  - {series: 'gpuslice_container_oom_refusals_total)" + c + R"(', values: '0 0 0 1 1 1 1 1 1 1 1'}
  alert_rule_test:
  - eval_time: 6m
    alertname: GpusliceContainerMemoryHigh
    exp_alerts:
    - exp_labels: {severity: warning, namespace: team-a, pod: trainer, container: main, gpu: GPU-1, resource: gpu.gpuslice.io, claim: trainer-gpu}
      exp_annotations:
        summary: Container team-a/trainer/main uses over 90% of its GPU memory slice
        description: On GPU GPU-1 it holds 95% of its memory limit; its next allocations may be refused.
  - eval_time: 5m
    alertname: GpusliceContainerOomRefusals
    exp_alerts:
    - exp_labels: {severity: warning, namespace: team-a, pod: trainer, container: main, gpu: GPU-1, resource: gpu.gpuslice.io, claim: trainer-gpu}
      exp_annotations:
        summary: Container team-a/trainer/main had GPU allocations refused
        description: 1 allocations on GPU GPU-1 were refused in the last 10m because they would have passed the container's memory limit.
)");
}

}  // namespace
}  // namespace gpuslice
