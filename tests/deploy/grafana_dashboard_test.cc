// The chart's Grafana dashboard: a ConfigMap that kube-prometheus-stack's sidecar loads, whose
// JSON is the chart's dashboard file, and whose every PromQL expression the real promtool
// parses (`check rules`) and evaluates on the series the plugin exports (`test rules`),
// returning the expected value for each panel, the Grafana variables filtering as they should.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "deploy/chart_render.h"
#include "fakes/temp_dir.h"

namespace gpuslice::testing {
namespace {

const std::string kDashboardFile = kChartDir + "/dashboards/gpuslice-containers.json";

// The labels of the two containers the plugin exports in the evaluation below.
constexpr const char* kTrainer =
    R"({namespace="team-a",pod="trainer",container="main",gpu="GPU-1",resource="nvidia.com/gpu"})";
constexpr const char* kOther =
    R"({namespace="team-b",pod="server",container="main",gpu="GPU-1",resource="nvidia.com/gpu"})";

std::string ReplaceAll(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

// A Grafana expression as Prometheus gets it with namespace team-a and every pod chosen.
std::string Substitute(const std::string& expr) {
  return ReplaceAll(ReplaceAll(ReplaceAll(expr, "$__rate_interval", "5m"), "$namespace", "team-a"),
                    "$pod", ".*");
}

// What each panel's target returns at 10m on the input series of the test below: its value
// and, for a plain selector, the metric name the result keeps.
struct Expected {
  double value;
  std::string name;  // empty: the result has no __name__ (a ratio, a rate)
};
const std::map<std::pair<std::string, std::string>, Expected> kExpected = {
    {{"Memory used and limit", "A"}, {30, "gpuslice_container_memory_used_bytes"}},
    {{"Memory used and limit", "B"}, {100, "gpuslice_container_memory_limit_bytes"}},
    {{"Memory used / limit", "A"}, {0.3, ""}},
    {{"Peak memory", "A"}, {40, "gpuslice_container_memory_peak_bytes"}},
    {{"Peak memory", "B"}, {100, "gpuslice_container_memory_limit_bytes"}},
    {{"Refused allocations", "A"}, {1, ""}},
    {{"Compute used and share", "A"}, {0.2, "gpuslice_container_compute_used_ratio"}},
    {{"Compute used and share", "B"}, {0.25, "gpuslice_container_compute_share_ratio"}},
    {{"Throttled time", "A"}, {0.5, ""}},
};

class GrafanaDashboardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!HaveTool("helm version")) {
      GTEST_SKIP() << "helm is not installed (scripts/setup.sh --test-tools installs it)";
    }
  }

  // The dashboard ConfigMaps the chart renders with `extra` helm arguments.
  std::vector<YAML::Node> Dashboards(const std::string& extra) {
    CommandRun run;
    std::vector<YAML::Node> dashboards;
    for (const YAML::Node& map : RenderKind("ConfigMap", extra, &run)) {
      if (map["data"]["gpuslice-containers.json"]) dashboards.push_back(map);
    }
    EXPECT_EQ(run.exit_code, 0) << run.output;
    return dashboards;
  }

  nlohmann::json DashboardJson() {
    const std::vector<YAML::Node> dashboards = Dashboards("");
    if (dashboards.size() != 1) return nullptr;
    return nlohmann::json::parse(
        dashboards[0]["data"]["gpuslice-containers.json"].as<std::string>(), nullptr, false);
  }

  TempDir dir_;
};

TEST_F(GrafanaDashboardTest, AConfigMapTheGrafanaSidecarLoads) {
  const std::vector<YAML::Node> dashboards = Dashboards("");
  ASSERT_EQ(dashboards.size(), 1u);
  EXPECT_EQ(dashboards[0]["metadata"]["labels"]["grafana_dashboard"].as<std::string>(), "1");
  EXPECT_EQ(dashboards[0]["metadata"]["namespace"].as<std::string>(), "gpu-system");
  EXPECT_TRUE(Dashboards("--set metrics.dashboard.enabled=false").empty());
  EXPECT_TRUE(Dashboards("--set metrics.enabled=false").empty());
  const std::vector<YAML::Node> placed = Dashboards(
      "--set metrics.dashboard.namespace=monitoring "
      "--set metrics.dashboard.annotations.grafana_folder=GPUs "
      "--set metrics.dashboard.sidecarLabel=dashboards "
      "--set-string metrics.dashboard.sidecarLabelValue=gpu");
  ASSERT_EQ(placed.size(), 1u);
  EXPECT_EQ(placed[0]["metadata"]["namespace"].as<std::string>(), "monitoring");
  EXPECT_EQ(placed[0]["metadata"]["annotations"]["grafana_folder"].as<std::string>(), "GPUs");
  EXPECT_EQ(placed[0]["metadata"]["labels"]["dashboards"].as<std::string>(), "gpu");
  EXPECT_FALSE(placed[0]["metadata"]["labels"]["grafana_dashboard"]);
}

TEST_F(GrafanaDashboardTest, HoldsTheChartsDashboardWithAPanelPerFigure) {
  const nlohmann::json dashboard = DashboardJson();
  ASSERT_TRUE(dashboard.is_object());
  std::ifstream file(kDashboardFile);
  ASSERT_TRUE(file) << kDashboardFile;
  EXPECT_EQ(dashboard, nlohmann::json::parse(file));
  EXPECT_EQ(dashboard["uid"], "gpuslice-containers");
  std::set<std::string> titles;
  for (const nlohmann::json& panel : dashboard["panels"]) {
    titles.insert(panel["title"].get<std::string>());
    EXPECT_EQ(panel["datasource"]["uid"], "${datasource}") << panel["title"];
    EXPECT_FALSE(panel["targets"].empty()) << panel["title"];
    for (const nlohmann::json& target : panel["targets"]) {
      EXPECT_TRUE(kExpected.count({panel["title"], target["refId"]}))
          << "no expectation for panel \"" << panel["title"] << "\" target " << target["refId"];
    }
  }
  EXPECT_THAT(titles, ::testing::ElementsAre("Compute used and share", "Memory used / limit",
                                             "Memory used and limit", "Peak memory",
                                             "Refused allocations", "Throttled time"));
}

TEST_F(GrafanaDashboardTest, PromtoolParsesAndEvaluatesEveryExpression) {
  if (!HaveTool("promtool --version")) {
    GTEST_SKIP() << "promtool is not installed (Debian package prometheus)";
  }
  const nlohmann::json dashboard = DashboardJson();
  ASSERT_TRUE(dashboard.is_object());

  // Every expression as a recording rule, so `promtool check rules` parses it; each also gets
  // an evaluation with its expected result.
  std::ostringstream rules, tests;
  rules << "groups:\n- name: dashboard\n  rules:\n";
  int count = 0;
  for (const nlohmann::json& panel : dashboard["panels"]) {
    for (const nlohmann::json& target : panel["targets"]) {
      const std::string expr = Substitute(target["expr"].get<std::string>());
      rules << "  - record: gpuslice_dashboard_check_" << ++count << "\n    expr: '" << expr
            << "'\n";
      auto expected = kExpected.find({panel["title"], target["refId"]});
      ASSERT_NE(expected, kExpected.end()) << panel["title"];
      tests << "  - expr: '" << expr << "'\n    eval_time: 10m\n    exp_samples:\n"
            << "    - labels: '" << expected->second.name << kTrainer << "'\n"
            << "      value: " << expected->second.value << "\n";
    }
  }
  // The variables' queries are Grafana's label_values(selector, label): their selectors must
  // hold the label in question.
  for (const nlohmann::json& variable : dashboard["templating"]["list"]) {
    if (variable["type"] != "query") continue;
    const std::string query = variable["query"]["query"].get<std::string>();
    const std::string prefix = "label_values(";
    const size_t comma = query.rfind(", ");
    ASSERT_TRUE(query.rfind(prefix, 0) == 0 && comma != std::string::npos && query.back() == ')')
        << query;
    const std::string selector = query.substr(prefix.size(), comma - prefix.size());
    const std::string label = query.substr(comma + 2, query.size() - comma - 3);
    const std::string expr = "count by (" + label + ") (" + Substitute(selector) + ")";
    rules << "  - record: gpuslice_dashboard_check_" << ++count << "\n    expr: '" << expr << "'\n";
    // Both containers' namespaces; the pods of namespace team-a only.
    const std::vector<std::string> values = label == "namespace"
                                                ? std::vector<std::string>{"team-a", "team-b"}
                                                : std::vector<std::string>{"trainer"};
    tests << "  - expr: '" << expr << "'\n    eval_time: 10m\n    exp_samples:\n";
    for (const std::string& value : values) {
      tests << "    - labels: '{" << label << "=\"" << value << "\"}'\n      value: 1\n";
    }
  }
  std::ofstream(dir_.Sub("rules.yaml")) << rules.str();
  CommandRun check = RunCommand("promtool check rules " + dir_.Sub("rules.yaml"));
  ASSERT_EQ(check.exit_code, 0) << check.output << rules.str();
  EXPECT_THAT(check.output, ::testing::HasSubstr("SUCCESS: " + std::to_string(count) + " rules"));

  std::ostringstream test_file;
  test_file << "rule_files: [rules.yaml]\nevaluation_interval: 1m\ntests:\n- interval: 1m\n"
            << "  input_series:\n";
  for (const char* labels : {kTrainer, kOther}) {
    for (const auto& [family, values] : std::vector<std::pair<const char*, const char*>>{
             {"gpuslice_container_memory_used_bytes", "30x10"},
             {"gpuslice_container_memory_limit_bytes", "100x10"},
             {"gpuslice_container_memory_peak_bytes", "40x10"},
             {"gpuslice_container_oom_refusals_total", "0+60x10"},
             {"gpuslice_container_compute_used_ratio", "0.2x10"},
             {"gpuslice_container_compute_share_ratio", "0.25x10"},
             {"gpuslice_container_throttled_seconds_total", "0+30x10"}}) {
      test_file << "  - {series: '" << family << labels << "', values: '" << values << "'}\n";
    }
  }
  test_file << "  promql_expr_test:\n" << tests.str();
  std::ofstream(dir_.Sub("test.yaml")) << test_file.str();
  CommandRun test = RunCommand("cd " + dir_.path() + " && promtool test rules test.yaml");
  EXPECT_EQ(test.exit_code, 0) << test.output << test_file.str();
}

}  // namespace
}  // namespace gpuslice::testing
