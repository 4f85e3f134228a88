#include "cli/kube_agents.h"

#include <algorithm>
#include <tuple>

namespace gpuslice::cli {

Result<std::vector<AgentPod>> ParseAgentPods(const nlohmann::json& list,
                                             const std::string& source) {
  std::vector<AgentPod> pods;
  try {
    if (!list.is_object() || !list.contains("items") || !list["items"].is_array()) {
      return Status::InvalidArgument(source + ": not a PodList (no items)");
    }
    for (const nlohmann::json& pod : list["items"]) {
      if (pod.value("/status/phase"_json_pointer, std::string()) != "Running") continue;
      AgentPod agent;
      agent.namespace_name = pod.value("/metadata/namespace"_json_pointer, std::string());
      agent.name = pod.value("/metadata/name"_json_pointer, std::string());
      agent.node = pod.value("/spec/nodeName"_json_pointer, std::string());
      const nlohmann::json containers =
          pod.value("/spec/containers"_json_pointer, nlohmann::json());
      if (!containers.is_array()) continue;
      for (const nlohmann::json& container : containers) {
        if (!container.is_object() || !container.contains("ports") ||
            !container["ports"].is_array()) {
          continue;
        }
        for (const nlohmann::json& port : container["ports"]) {
          if (port.is_object() && port.value("name", std::string()) == "metrics" &&
              port.contains("containerPort") && port["containerPort"].is_number_integer()) {
            agent.port = port["containerPort"].get<int>();
          }
        }
      }
      if (agent.port > 0 && agent.port <= 65535 && !agent.name.empty() &&
          !agent.namespace_name.empty()) {
        pods.push_back(std::move(agent));
      }
    }
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidArgument(source + ": not a PodList: " + e.what());
  }
  std::sort(pods.begin(), pods.end(), [](const AgentPod& a, const AgentPod& b) {
    return std::tie(a.namespace_name, a.name) < std::tie(b.namespace_name, b.name);
  });
  return pods;
}

std::string AgentMetricsPath(const AgentPod& pod) {
  return "/api/v1/namespaces/" + pod.namespace_name + "/pods/" + pod.name + ":" +
         std::to_string(pod.port) + "/proxy/metrics";
}

}  // namespace gpuslice::cli
