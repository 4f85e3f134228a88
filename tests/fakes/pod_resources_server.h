// The kubelet's PodResources service as a test sets it: a real gRPC server on a unix socket
// (plugin::UnixSocketServer, as the agent's own servers) whose List answers with the response
// the test last gave it, dynamic resources (DRA claims) included.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "plugin/device_plugin_service.h"
#include "podresources/v1/api.grpc.pb.h"

namespace gpuslice::testing {

class PodResourcesServer : public v1::PodResourcesLister::Service {
 public:
  // Serves on `socket`; check ok() before using it.
  explicit PodResourcesServer(const std::string& socket) {
    Result<std::unique_ptr<plugin::UnixSocketServer>> server =
        plugin::UnixSocketServer::Start(socket, this);
    if (server.ok()) server_ = std::move(*server);
  }
  ~PodResourcesServer() override {
    if (server_ != nullptr) server_->Stop();
  }

  bool ok() const { return server_ != nullptr; }

  void Set(v1::ListPodResourcesResponse response) {
    std::lock_guard<std::mutex> lock(mutex_);
    response_ = std::move(response);
  }

  // Adds a container holding claim `claim` (in the pod's namespace) with one device of
  // `driver` per CDI ID; returns the container for more.
  v1::ContainerResources* AddClaimContainer(const std::string& ns, const std::string& pod,
                                            const std::string& container,
                                            const std::string& claim, const std::string& driver,
                                            const std::vector<std::string>& cdi_ids) {
    std::lock_guard<std::mutex> lock(mutex_);
    v1::PodResources* pod_resources = nullptr;
    for (auto& existing : *response_.mutable_pod_resources()) {
      if (existing.namespace_() == ns && existing.name() == pod) pod_resources = &existing;
    }
    if (pod_resources == nullptr) {
      pod_resources = response_.add_pod_resources();
      pod_resources->set_namespace_(ns);
      pod_resources->set_name(pod);
    }
    v1::ContainerResources* entry = pod_resources->add_containers();
    entry->set_name(container);
    v1::DynamicResource* dynamic = entry->add_dynamic_resources();
    dynamic->set_claim_name(claim);
    dynamic->set_claim_namespace(ns);
    for (size_t i = 0; i < cdi_ids.size(); ++i) {
      v1::ClaimResource* device = dynamic->add_claim_resources();
      device->set_driver_name(driver);
      device->set_pool_name("node-a");
      device->set_device_name("gpu-" + std::to_string(i));
      device->add_cdi_devices()->set_name(cdi_ids[i]);
    }
    return entry;
  }

  grpc::Status List(grpc::ServerContext*, const v1::ListPodResourcesRequest*,
                    v1::ListPodResourcesResponse* response) override {
    std::lock_guard<std::mutex> lock(mutex_);
    *response = response_;
    return grpc::Status::OK;
  }

 private:
  std::mutex mutex_;
  v1::ListPodResourcesResponse response_;
  std::unique_ptr<plugin::UnixSocketServer> server_;
};

}  // namespace gpuslice::testing
