#include "plugin/http_endpoint.h"

#include <httplib.h>

#include <charconv>
#include <chrono>
#include <nlohmann/json.hpp>

namespace gpuslice::plugin {

Result<HttpAddress> ParseHttpAddress(const std::string& address) {
  const size_t colon = address.rfind(':');
  int port = -1;
  if (colon != std::string::npos) {
    const std::string digits = address.substr(colon + 1);
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
    if (digits.empty() || error != std::errc() || end != digits.data() + digits.size()) port = -1;
  }
  if (colon == std::string::npos || port < 0 || port > 65535) {
    return Status::InvalidArgument("metrics address \"" + address +
                                   "\" is not host:port (port 0-65535)");
  }
  HttpAddress parsed{address.substr(0, colon), port};
  if (parsed.host.empty()) parsed.host = "0.0.0.0";
  return parsed;
}

Result<std::unique_ptr<HttpEndpoint>> HttpEndpoint::Start(const std::string& address,
                                                          const MetricsRegistry& metrics,
                                                          ServingAgent serving) {
  Result<HttpAddress> parsed = ParseHttpAddress(address);
  if (!parsed.ok()) return parsed.status();
  const std::string& host = parsed->host;
  const int port = parsed->port;

  std::unique_ptr<HttpEndpoint> endpoint(new HttpEndpoint());
  endpoint->server_ = std::make_unique<httplib::Server>();
  httplib::Server& server = *endpoint->server_;
  server.Get("/metrics", [&metrics, serving](const httplib::Request&, httplib::Response& response) {
    const ServedAgent* agent = serving();
    response.set_content(
        metrics.Render() + (agent != nullptr ? agent->RenderContainerMetrics() : ""),
        "text/plain; version=0.0.4; charset=utf-8");
  });
  server.Get("/healthz", [serving](const httplib::Request&, httplib::Response& response) {
    const ServedAgent* agent = serving();
    nlohmann::json body = {{"status", agent != nullptr ? "ok" : "waiting for the NVIDIA driver"},
                           {"resources", nlohmann::json::array()}};
    const std::vector<ResourceStatus> served =
        agent != nullptr ? agent->Resources() : std::vector<ResourceStatus>{};
    for (const ResourceStatus& resource : served) {
      body["resources"].push_back({{"resource", resource.resource},
                                   {"socket", resource.socket_path},
                                   {"serving", resource.serving},
                                   {"registered", resource.registered},
                                   {"devices", resource.devices},
                                   {"healthyDevices", resource.healthy_devices}});
    }
    response.set_content(body.dump(), "application/json");
  });
  if (port == 0) {
    endpoint->port_ = server.bind_to_any_port(host);
  } else {
    endpoint->port_ = server.bind_to_port(host, port) ? port : -1;
  }
  if (endpoint->port_ < 0) {
    return Status::Unavailable("cannot listen for HTTP on " + address);
  }
  HttpEndpoint* self = endpoint.get();
  endpoint->thread_ = std::thread([self] {
    self->server_->listen_after_bind();
    self->listener_done_.store(true);
  });
  // cpp-httplib's stop() does nothing before the listener runs, and the listener would then
  // serve forever: without this wait, an agent that exits at once (NVML missing) hangs in the
  // destructor's join.
  while (!server.is_running() && !endpoint->listener_done_.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return endpoint;
}

HttpEndpoint::~HttpEndpoint() {
  if (server_ != nullptr) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace gpuslice::plugin
