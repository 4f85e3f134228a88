// The plugin's HTTP endpoint: /metrics (Prometheus text format) and /healthz.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"
#include "plugin/metrics.h"
#include "plugin/plugin_manager.h"

namespace httplib {
class Server;
}

namespace gpuslice::plugin {

// What /healthz reports: the resources served, or nullopt while the agent waits for the
// NVIDIA driver (failOnInitError false), which is healthy too: the pod must not be restarted.
using ResourcesProvider = std::function<std::optional<std::vector<ResourceStatus>>()>;

// Serves on its own thread until destroyed.
class HttpEndpoint {
 public:
  // `address` is "host:port" (port 0 picks a free one). Returns Unavailable naming the address
  // when it cannot be bound. `resources` is called from the endpoint's thread.
  static Result<std::unique_ptr<HttpEndpoint>> Start(const std::string& address,
                                                     const MetricsRegistry& metrics,
                                                     ResourcesProvider resources);
  ~HttpEndpoint();

  int port() const { return port_; }

 private:
  HttpEndpoint() = default;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace gpuslice::plugin
