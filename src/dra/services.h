// The gRPC services the kubelet calls: plugin registration (pluginregistration v1, on the
// socket in the kubelet's plugins_registry directory), and on the driver's own socket the DRA
// service (NodePrepareResources, NodeUnprepareResources; dra v1) and the health stream
// (DRAResourceHealth; dra-health v1). They only speak the protocols: the work is
// ClaimPreparer's, the health HealthFeed's.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "dra-health/v1/api.grpc.pb.h"
#include "dra/claim_preparer.h"
#include "dra/v1/api.grpc.pb.h"
#include "pluginregistration/v1/api.grpc.pb.h"

namespace gpuslice::dra {

namespace drapb = k8s::io::kubelet::pkg::apis::dra::v1;

// The names the kubelet expects in PluginInfo.supported_versions: "<package>.<service>".
inline constexpr std::string_view kDraService = "v1.DRAPlugin";
inline constexpr std::string_view kHealthService = "v1.DRAResourceHealth";

// Thread-safe.
class DraService final : public drapb::DRAPlugin::Service {
 public:
  explicit DraService(ClaimPreparer& preparer) : preparer_(preparer) {}

  // Every claim of the request gets an entry; a claim that cannot be prepared carries its
  // error there (the kubelet shows it on the pod and calls again).
  grpc::Status NodePrepareResources(grpc::ServerContext* context,
                                    const drapb::NodePrepareResourcesRequest* request,
                                    drapb::NodePrepareResourcesResponse* response) override;
  grpc::Status NodeUnprepareResources(grpc::ServerContext* context,
                                      const drapb::NodeUnprepareResourcesRequest* request,
                                      drapb::NodeUnprepareResourcesResponse* response) override;

 private:
  ClaimPreparer& preparer_;
};

struct DeviceHealth {
  std::string pool;
  std::string device;
  bool healthy = true;
  std::string message;  // why it is unhealthy
};

// The devices' health as it changes, for any number of watching streams. Thread-safe.
class HealthFeed {
 public:
  void Publish(std::vector<DeviceHealth> devices);
  // Waits until the feed is past `*version` or `timeout` passes or Close(); then sets
  // `*version` and `*devices` to the latest. Returns false once closed.
  bool Next(uint64_t* version, std::vector<DeviceHealth>* devices,
            std::chrono::milliseconds timeout);
  void Close();

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  uint64_t version_ = 0;
  std::vector<DeviceHealth> devices_;
  bool closed_ = false;
};

// Thread-safe.
class HealthService final : public v1::DRAResourceHealth::Service {
 public:
  explicit HealthService(HealthFeed& feed) : feed_(feed) {}

  // Sends the full device list at once and again on every change, until the kubelet hangs up
  // or the feed closes.
  grpc::Status NodeWatchResources(grpc::ServerContext* context,
                                  const v1::NodeWatchResourcesRequest* request,
                                  grpc::ServerWriter<v1::NodeWatchResourcesResponse>* writer)
      override;

 private:
  HealthFeed& feed_;
};

// Thread-safe.
class RegistrationService final : public pluginregistration::Registration::Service {
 public:
  // `endpoint` is the absolute path of the DRA socket.
  explicit RegistrationService(std::string endpoint) : endpoint_(std::move(endpoint)) {}

  grpc::Status GetInfo(grpc::ServerContext* context,
                       const pluginregistration::InfoRequest* request,
                       pluginregistration::PluginInfo* info) override;
  grpc::Status NotifyRegistrationStatus(
      grpc::ServerContext* context, const pluginregistration::RegistrationStatus* status,
      pluginregistration::RegistrationStatusResponse* response) override;

  // Whether the kubelet said it registered the plugin; the last error it sent otherwise.
  bool registered() const { return registered_.load(); }
  std::string last_error() const;

 private:
  std::string endpoint_;
  std::atomic<bool> registered_{false};
  mutable std::mutex mutex_;
  std::string last_error_;
};

}  // namespace gpuslice::dra
