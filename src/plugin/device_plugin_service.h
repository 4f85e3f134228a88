// The kubelet's DevicePlugin gRPC service (API v1beta1) for one resource name, served on its
// own unix socket. It only speaks the protocol: devices, allocation and health come from the
// shared PluginState.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "deviceplugin/v1beta1/api.grpc.pb.h"
#include "plugin/allocator.h"
#include "plugin/metrics.h"
#include "plugin/plugin_state.h"

namespace gpuslice::plugin {

// The device list ListAndWatch sends for `resource` in `snapshot`: every slice of every GPU of
// the resource, in GPU index and slice order, with its GPU's health and NUMA node.
v1beta1::ListAndWatchResponse BuildDeviceList(const PluginSnapshot& snapshot,
                                              const std::string& resource);

// Thread-safe: gRPC calls the handlers concurrently.
class DevicePluginService final : public v1beta1::DevicePlugin::Service {
 public:
  // `simulated` is null on nodes with real GPUs; it must outlive the service.
  DevicePluginService(std::string resource, const PluginState& state, MetricsRegistry& metrics,
                      const SimulatedDriver* simulated = nullptr, DriverRoot driver_root = {});

  // Ends every ListAndWatch stream; later calls fail with UNAVAILABLE.
  void Stop();

  // Ends the ListAndWatch streams open now, so the server they run on shuts down at once;
  // streams opened later (on a new server) are served normally.
  void EndStreams();

  const std::string& resource() const { return resource_; }

  grpc::Status GetDevicePluginOptions(grpc::ServerContext* context, const v1beta1::Empty* request,
                                      v1beta1::DevicePluginOptions* response) override;
  grpc::Status ListAndWatch(grpc::ServerContext* context, const v1beta1::Empty* request,
                            grpc::ServerWriter<v1beta1::ListAndWatchResponse>* writer) override;
  grpc::Status GetPreferredAllocation(grpc::ServerContext* context,
                                      const v1beta1::PreferredAllocationRequest* request,
                                      v1beta1::PreferredAllocationResponse* response) override;
  grpc::Status Allocate(grpc::ServerContext* context, const v1beta1::AllocateRequest* request,
                        v1beta1::AllocateResponse* response) override;
  grpc::Status PreStartContainer(grpc::ServerContext* context,
                                 const v1beta1::PreStartContainerRequest* request,
                                 v1beta1::PreStartContainerResponse* response) override;

 private:
  const std::string resource_;
  const PluginState& state_;
  MetricsRegistry& metrics_;
  const SimulatedDriver* simulated_;
  const DriverRoot driver_root_;
  std::atomic<bool> stopped_{false};
  std::atomic<uint64_t> stream_epoch_{0};  // EndStreams() ends streams of earlier epochs
};

// A gRPC server listening on one unix socket.
class UnixSocketServer {
 public:
  // Removes a stale socket file at `socket_path`, then starts serving `service` there. Returns
  // Unavailable naming the path when the socket cannot be bound.
  static Result<std::unique_ptr<UnixSocketServer>> Start(const std::string& socket_path,
                                                         grpc::Service* service);
  // The same, serving several services on the one socket.
  static Result<std::unique_ptr<UnixSocketServer>> Start(
      const std::string& socket_path, const std::vector<grpc::Service*>& services);
  ~UnixSocketServer();

  // Stops serving (cancelling open calls after a short grace) and removes the socket file.
  void Stop();

  const std::string& socket_path() const { return socket_path_; }

 private:
  UnixSocketServer(std::string socket_path, std::unique_ptr<grpc::Server> server);
  std::string socket_path_;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace gpuslice::plugin
