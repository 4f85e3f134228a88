// Finding every node's agent through the Kubernetes API server, for `gpuslice top`: the agent
// pods (the chart's DaemonSet, by label) in a PodList, and the path of each one's /metrics
// through the API server's pod proxy. The API server is reached with kubeapi::Client.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/status.h"

namespace gpuslice::cli {

// A node agent pod: where it runs and the port of its container port named "metrics".
struct AgentPod {
  std::string namespace_name;
  std::string name;
  std::string node;
  int port = 0;
};

// The running pods of a PodList (as GET /api/v1/pods returns it) that have a container port
// named "metrics", in namespace and name order. Pods not Running or without the port are left
// out. InvalidArgument naming `source` when it is not a PodList.
Result<std::vector<AgentPod>> ParseAgentPods(const nlohmann::json& list, const std::string& source);

// "/api/v1/namespaces/<ns>/pods/<name>:<port>/proxy/metrics".
std::string AgentMetricsPath(const AgentPod& pod);

}  // namespace gpuslice::cli
