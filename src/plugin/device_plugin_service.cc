#include "plugin/device_plugin_service.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>

#include "core/slicing.h"
#include "plugin/allocator.h"
#include "plugin/grpc_status.h"
#include "plugin/preferred_allocation.h"

namespace gpuslice::plugin {
namespace {

constexpr const char* kHealthy = "Healthy";
constexpr const char* kUnhealthy = "Unhealthy";
// How often a stream notices that the kubelet went away when nothing changes.
constexpr std::chrono::milliseconds kStreamPoll{500};

bool SameDevices(const v1beta1::ListAndWatchResponse& a, const v1beta1::ListAndWatchResponse& b) {
  return a.SerializeAsString() == b.SerializeAsString();
}

}  // namespace

v1beta1::ListAndWatchResponse BuildDeviceList(const PluginSnapshot& snapshot,
                                              const std::string& resource) {
  v1beta1::ListAndWatchResponse response;
  if (snapshot.inventory == nullptr) return response;
  for (size_t position : snapshot.inventory->GpusOf(resource)) {
    const SlicedGpu& sliced = snapshot.inventory->gpus()[position];
    const bool healthy = snapshot.unhealthy.count(sliced.gpu.uuid) == 0;
    for (int slice = 0; slice < sliced.profile.slices; ++slice) {
      v1beta1::Device* device = response.add_devices();
      device->set_id(core::MakeDeviceId(sliced.gpu.uuid, slice));
      device->set_health(healthy ? kHealthy : kUnhealthy);
      if (sliced.gpu.numa_node >= 0) {
        device->mutable_topology()->add_nodes()->set_id(sliced.gpu.numa_node);
      }
    }
  }
  return response;
}

DevicePluginService::DevicePluginService(std::string resource, const PluginState& state,
                                         MetricsRegistry& metrics, const SimulatedDriver* simulated,
                                         DriverRoot driver_root)
    : resource_(std::move(resource)),
      state_(state),
      metrics_(metrics),
      simulated_(simulated),
      driver_root_(std::move(driver_root)) {}

void DevicePluginService::Stop() {
  stopped_ = true;
  state_.Wake();
}

void DevicePluginService::EndStreams() {
  ++stream_epoch_;
  state_.Wake();
}

grpc::Status DevicePluginService::GetDevicePluginOptions(grpc::ServerContext*,
                                                         const v1beta1::Empty*,
                                                         v1beta1::DevicePluginOptions* response) {
  response->set_pre_start_required(false);
  response->set_get_preferred_allocation_available(true);
  return grpc::Status::OK;
}

grpc::Status DevicePluginService::ListAndWatch(
    grpc::ServerContext* context, const v1beta1::Empty*,
    grpc::ServerWriter<v1beta1::ListAndWatchResponse>* writer) {
  PluginSnapshot snapshot = state_.Get();
  v1beta1::ListAndWatchResponse sent = BuildDeviceList(snapshot, resource_);
  if (!writer->Write(sent)) return grpc::Status::CANCELLED;
  spdlog::info("{}: ListAndWatch started, {} devices", resource_, sent.devices_size());
  const uint64_t epoch = stream_epoch_;
  while (!context->IsCancelled() && stream_epoch_ == epoch) {
    // Read before the snapshot: whatever changed before Stop() is then sent as the last list,
    // e.g. the empty list of a resource a config reload removed.
    const bool stopping = stopped_;
    snapshot = stopping ? state_.Get() : state_.WaitForChange(snapshot.generation, kStreamPoll);
    v1beta1::ListAndWatchResponse current = BuildDeviceList(snapshot, resource_);
    if (!SameDevices(current, sent)) {
      if (!writer->Write(current)) return grpc::Status::CANCELLED;
      sent = std::move(current);
    }
    if (stopping) break;
  }
  return grpc::Status::OK;
}

grpc::Status DevicePluginService::GetPreferredAllocation(
    grpc::ServerContext*, const v1beta1::PreferredAllocationRequest* request,
    v1beta1::PreferredAllocationResponse* response) {
  if (stopped_) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the plugin is stopping");
  const PluginSnapshot snapshot = state_.Get();
  for (const auto& container : request->container_requests()) {
    Result<std::vector<std::string>> chosen = PreferAllocation(
        *snapshot.inventory, resource_, snapshot.config->allocation_policy,
        {container.available_deviceids().begin(), container.available_deviceids().end()},
        {container.must_include_deviceids().begin(), container.must_include_deviceids().end()},
        container.allocation_size());
    if (!chosen.ok()) return ToGrpcStatus(chosen.status().WithContext(resource_));
    auto* out = response->add_container_responses();
    for (const std::string& id : *chosen) out->add_deviceids(id);
  }
  return grpc::Status::OK;
}

grpc::Status DevicePluginService::Allocate(grpc::ServerContext*,
                                           const v1beta1::AllocateRequest* request,
                                           v1beta1::AllocateResponse* response) {
  if (stopped_) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the plugin is stopping");
  const PluginSnapshot snapshot = state_.Get();
  Allocator allocator(*snapshot.inventory, snapshot.unhealthy, snapshot.config->library_host_dir,
                      *snapshot.regions, simulated_,
                      RuntimeOptionsFor(*snapshot.config, driver_root_));
  std::vector<std::string> created;
  for (const auto& container : request->container_requests()) {
    Result<ContainerAllocation> allocation = allocator.Allocate(
        resource_, {container.devicesids().begin(), container.devicesids().end()});
    if (!allocation.ok()) {
      for (const std::string& directory : created) snapshot.regions->Remove(directory);
      const Status status = allocation.status().WithContext(resource_);
      const grpc::Status grpc_status = ToGrpcStatus(status);
      metrics_.Increment(kMetricAllocationErrors,
                         {{"resource", resource_},
                          {"code", std::to_string(static_cast<int>(grpc_status.error_code()))}});
      spdlog::warn("Allocate refused: {}", status.message());
      return grpc_status;
    }
    created.push_back(allocation->region_dir);
    auto* out = response->add_container_responses();
    out->mutable_envs()->insert(allocation->envs.begin(), allocation->envs.end());
    for (const MountSpec& mount : allocation->mounts) {
      v1beta1::Mount* m = out->add_mounts();
      m->set_container_path(mount.container_path);
      m->set_host_path(mount.host_path);
      m->set_read_only(mount.read_only);
    }
    for (const std::string& name : allocation->cdi_devices) out->add_cdi_devices()->set_name(name);
    out->mutable_annotations()->insert(allocation->annotations.begin(),
                                       allocation->annotations.end());
    for (const DeviceNode& node : allocation->devices) {
      v1beta1::DeviceSpec* device = out->add_devices();
      device->set_container_path(node.container_path);
      device->set_host_path(node.host_path);
      device->set_permissions(node.permissions);
    }
  }
  metrics_.Increment(kMetricAllocations, {{"resource", resource_}},
                     request->container_requests_size());
  return grpc::Status::OK;
}

grpc::Status DevicePluginService::PreStartContainer(grpc::ServerContext*,
                                                    const v1beta1::PreStartContainerRequest*,
                                                    v1beta1::PreStartContainerResponse*) {
  // Registered with pre_start_required=false: the kubelet never needs this, but answering
  // keeps an older or misbehaving kubelet from failing the container.
  return grpc::Status::OK;
}

Result<std::unique_ptr<UnixSocketServer>> UnixSocketServer::Start(const std::string& socket_path,
                                                                  grpc::Service* service) {
  return Start(socket_path, std::vector<grpc::Service*>{service});
}

Result<std::unique_ptr<UnixSocketServer>> UnixSocketServer::Start(
    const std::string& socket_path, const std::vector<grpc::Service*>& services) {
  unlink(socket_path.c_str());
  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix://" + socket_path, grpc::InsecureServerCredentials());
  for (grpc::Service* service : services) builder.RegisterService(service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr) {
    return Status::Unavailable("cannot serve gRPC on unix socket " + socket_path);
  }
  return std::unique_ptr<UnixSocketServer>(new UnixSocketServer(socket_path, std::move(server)));
}

UnixSocketServer::UnixSocketServer(std::string socket_path, std::unique_ptr<grpc::Server> server)
    : socket_path_(std::move(socket_path)), server_(std::move(server)) {}

UnixSocketServer::~UnixSocketServer() { Stop(); }

void UnixSocketServer::Stop() {
  if (server_ == nullptr) return;
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
  server_->Wait();
  server_.reset();
  unlink(socket_path_.c_str());
}

}  // namespace gpuslice::plugin
