// What the node agent's HTTP endpoint reports on, in either mode: the resources it serves
// (/healthz) and its containers' series (/metrics). The device plugin (PluginManager) and the
// DRA driver (dra::Driver) each implement it.
#pragma once

#include <string>
#include <vector>

namespace gpuslice::plugin {

struct ResourceStatus {
  std::string resource;
  std::string socket_path;
  bool serving = false;
  bool registered = false;
  int devices = 0;
  int healthy_devices = 0;
};

class ServedAgent {
 public:
  virtual ~ServedAgent() = default;

  // Thread-safe snapshot of what the agent serves the kubelet.
  virtual std::vector<ResourceStatus> Resources() const = 0;

  // Thread-safe: the per-container series (plugin/container_metrics.h) of the containers the
  // kubelet lists now; only the families' HELP and TYPE when it cannot be asked.
  virtual std::string RenderContainerMetrics() const = 0;
};

}  // namespace gpuslice::plugin
