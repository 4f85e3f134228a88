#include "plugin/http_endpoint.h"

#include <httplib.h>

#include <nlohmann/json.hpp>

namespace gpuslice::plugin {

Result<std::unique_ptr<HttpEndpoint>> HttpEndpoint::Start(const std::string& address,
                                                          const MetricsRegistry& metrics,
                                                          ResourcesProvider resources) {
  const size_t colon = address.rfind(':');
  int port = -1;
  if (colon != std::string::npos) {
    try {
      port = std::stoi(address.substr(colon + 1));
    } catch (const std::exception&) {
      port = -1;
    }
  }
  if (colon == std::string::npos || port < 0 || port > 65535) {
    return Status::InvalidArgument("metrics address \"" + address + "\" is not host:port");
  }
  std::string host = address.substr(0, colon);
  if (host.empty()) host = "0.0.0.0";

  std::unique_ptr<HttpEndpoint> endpoint(new HttpEndpoint());
  endpoint->server_ = std::make_unique<httplib::Server>();
  httplib::Server& server = *endpoint->server_;
  server.Get("/metrics", [&metrics](const httplib::Request&, httplib::Response& response) {
    response.set_content(metrics.Render(), "text/plain; version=0.0.4; charset=utf-8");
  });
  server.Get("/healthz", [resources = std::move(resources)](const httplib::Request&,
                                                            httplib::Response& response) {
    const std::optional<std::vector<ResourceStatus>> served = resources();
    nlohmann::json body = {{"status", served ? "ok" : "waiting for the NVIDIA driver"},
                           {"resources", nlohmann::json::array()}};
    for (const ResourceStatus& resource : served.value_or(std::vector<ResourceStatus>{})) {
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
  endpoint->thread_ = std::thread([&server] { server.listen_after_bind(); });
  return endpoint;
}

HttpEndpoint::~HttpEndpoint() {
  if (server_ != nullptr) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace gpuslice::plugin
