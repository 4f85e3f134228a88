// The node agent's HTTP endpoint, in device plugin and DRA mode alike: /metrics (Prometheus
// text format: the agent's own metrics and the per-container series) and /healthz.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "core/status.h"
#include "plugin/metrics.h"
#include "plugin/served_agent.h"

namespace httplib {
class Server;
}

namespace gpuslice::plugin {

struct HttpAddress {
  std::string host;  // "0.0.0.0" when the address gives none
  int port = 0;      // 0: any free port
};

// Parses "host:port" or ":port" (port 0-65535). InvalidArgument naming the address otherwise,
// so the binary can refuse a bad flag before it starts serving anything.
Result<HttpAddress> ParseHttpAddress(const std::string& address);

// The agent whose resources /healthz reports and whose containers /metrics lists (the device
// plugin's manager or the DRA driver), or nullptr while the agent waits for the NVIDIA driver
// (failOnInitError false): healthy too, the pod must not be restarted for it.
using ServingAgent = std::function<const ServedAgent*()>;

// Serves on its own thread until destroyed.
class HttpEndpoint {
 public:
  // `address` is "host:port" (port 0 picks a free one). Returns Unavailable naming the address
  // when it cannot be bound. `serving` is called from the endpoint's thread.
  static Result<std::unique_ptr<HttpEndpoint>> Start(const std::string& address,
                                                     const MetricsRegistry& metrics,
                                                     ServingAgent serving);
  ~HttpEndpoint();

  int port() const { return port_; }

 private:
  HttpEndpoint() = default;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::atomic<bool> listener_done_{false};  // listen_after_bind returned
  int port_ = 0;
};

}  // namespace gpuslice::plugin
