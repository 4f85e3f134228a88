// Finding the node agents in a PodList for `gpuslice top`: running pods with a metrics port,
// in order, and a clear refusal of what is not a PodList. (Kubeconfigs are read by kubeapi,
// tests/kubeapi/cluster_config_test.cc.)
#include "cli/kube_agents.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace gpuslice::cli {
namespace {

using ::testing::HasSubstr;

TEST(ParseAgentPods, KeepsRunningPodsWithAMetricsPortInOrder) {
  Result<std::vector<AgentPod>> pods =
      ParseAgentPods(nlohmann::json::parse(R"({"kind": "PodList", "items": [
    {"metadata": {"namespace": "gpuslice", "name": "b"}, "spec": {"nodeName": "n2",
     "containers": [{"ports": [{"name": "grpc", "containerPort": 1},
                               {"name": "metrics", "containerPort": 9410}]}]},
     "status": {"phase": "Running"}},
    {"metadata": {"namespace": "gpuslice", "name": "a"}, "spec": {"nodeName": "n1",
     "containers": [{"ports": [{"name": "metrics", "containerPort": 9411}]}]},
     "status": {"phase": "Running"}},
    {"metadata": {"namespace": "gpuslice", "name": "pending"}, "spec": {"nodeName": "n3",
     "containers": [{"ports": [{"name": "metrics", "containerPort": 9410}]}]},
     "status": {"phase": "Pending"}},
    {"metadata": {"namespace": "gpuslice", "name": "no-port"}, "spec": {"nodeName": "n4",
     "containers": [{}]}, "status": {"phase": "Running"}}]})"),
                     "api");
  ASSERT_TRUE(pods.ok()) << pods.status().ToString();
  ASSERT_EQ(pods->size(), 2u);
  EXPECT_EQ((*pods)[0].name, "a");
  EXPECT_EQ((*pods)[0].node, "n1");
  EXPECT_EQ((*pods)[0].port, 9411);
  EXPECT_EQ((*pods)[1].port, 9410);
  EXPECT_EQ(AgentMetricsPath((*pods)[1]), "/api/v1/namespaces/gpuslice/pods/b:9410/proxy/metrics");

  for (const char* bad : {"[]", R"({"items": 3})", R"({"items": [{"status": {"phase": 1}}]})"}) {
    Result<std::vector<AgentPod>> refused = ParseAgentPods(nlohmann::json::parse(bad), "api");
    ASSERT_FALSE(refused.ok()) << bad;
    EXPECT_THAT(refused.status().message(), HasSubstr("api: not a PodList")) << bad;
  }
}

}  // namespace
}  // namespace gpuslice::cli
