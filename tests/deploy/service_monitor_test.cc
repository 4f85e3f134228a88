// The chart's ServiceMonitor: rendered only where the Prometheus Operator's API exists and
// the values ask for it, scraping the agents through the headless Service it brings along.
#include <gtest/gtest.h>

#include "deploy/chart_render.h"

namespace gpuslice::testing {
namespace {

constexpr const char* kOperatorApi = "--api-versions monitoring.coreos.com/v1";

class ServiceMonitorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!HaveTool("helm version")) {
      GTEST_SKIP() << "helm is not installed (scripts/setup.sh --test-tools installs it)";
    }
  }

  std::vector<YAML::Node> Render(const std::string& kind, const std::string& extra) {
    CommandRun run;
    std::vector<YAML::Node> found = RenderKind(kind, extra, &run);
    EXPECT_EQ(run.exit_code, 0) << run.output;
    return found;
  }
};

TEST_F(ServiceMonitorTest, RenderedOnlyWhereTheOperatorsApiExistsAndWanted) {
  EXPECT_TRUE(Render("ServiceMonitor", "").empty());
  EXPECT_TRUE(Render("Service", "").empty());
  EXPECT_EQ(Render("ServiceMonitor", kOperatorApi).size(), 1u);
  EXPECT_TRUE(Render("ServiceMonitor",
                     std::string(kOperatorApi) + " --set metrics.serviceMonitor.enabled=false")
                  .empty());
  EXPECT_TRUE(
      Render("Service", std::string(kOperatorApi) + " --set metrics.serviceMonitor.enabled=false")
          .empty());
  EXPECT_TRUE(
      Render("ServiceMonitor", std::string(kOperatorApi) + " --set metrics.enabled=false").empty());
}

TEST_F(ServiceMonitorTest, ScrapesTheAgentsMetricsPortThroughItsService) {
  const std::vector<YAML::Node> monitors =
      Render("ServiceMonitor", std::string(kOperatorApi) +
                                   " --set metrics.serviceMonitor.labels.release=kps"
                                   " --set metrics.serviceMonitor.interval=15s");
  ASSERT_EQ(monitors.size(), 1u);
  const YAML::Node& monitor = monitors[0];
  EXPECT_EQ(monitor["metadata"]["namespace"].as<std::string>(), "gpu-system");
  EXPECT_EQ(monitor["metadata"]["labels"]["release"].as<std::string>(), "kps");
  EXPECT_EQ(monitor["spec"]["namespaceSelector"]["matchNames"][0].as<std::string>(), "gpu-system");

  const std::vector<YAML::Node> services = Render("Service", kOperatorApi);
  ASSERT_EQ(services.size(), 1u);
  const YAML::Node& service = services[0];
  // The monitor selects the Service by labels the Service carries.
  for (const auto& label : monitor["spec"]["selector"]["matchLabels"]) {
    const std::string key = label.first.as<std::string>();
    ASSERT_TRUE(service["metadata"]["labels"][key]) << key;
    EXPECT_EQ(service["metadata"]["labels"][key].as<std::string>(), label.second.as<std::string>());
  }
  // Its endpoint names the Service's port, which targets the DaemonSet's named port.
  const YAML::Node endpoint = monitor["spec"]["endpoints"][0];
  EXPECT_EQ(endpoint["port"].as<std::string>(),
            service["spec"]["ports"][0]["name"].as<std::string>());
  EXPECT_EQ(endpoint["path"].as<std::string>(), "/metrics");
  EXPECT_EQ(endpoint["interval"].as<std::string>(), "15s");
  EXPECT_EQ(endpoint["relabelings"][0]["targetLabel"].as<std::string>(), "node");

  const std::vector<YAML::Node> daemonsets = Render("DaemonSet", kOperatorApi);
  ASSERT_EQ(daemonsets.size(), 1u);
  const YAML::Node pod_labels = daemonsets[0]["spec"]["template"]["metadata"]["labels"];
  for (const auto& label : service["spec"]["selector"]) {
    const std::string key = label.first.as<std::string>();
    ASSERT_TRUE(pod_labels[key]) << key;
    EXPECT_EQ(pod_labels[key].as<std::string>(), label.second.as<std::string>());
  }
  bool named_port = false;
  for (const YAML::Node& port :
       daemonsets[0]["spec"]["template"]["spec"]["containers"][0]["ports"]) {
    named_port |= port["name"].as<std::string>() ==
                  service["spec"]["ports"][0]["targetPort"].as<std::string>();
  }
  EXPECT_TRUE(named_port);
}

}  // namespace
}  // namespace gpuslice::testing
