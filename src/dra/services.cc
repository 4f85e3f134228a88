#include "dra/services.h"

#include <spdlog/spdlog.h>

#include <ctime>

#include "dra/device_model.h"

namespace gpuslice::dra {

grpc::Status DraService::NodePrepareResources(grpc::ServerContext*,
                                              const drapb::NodePrepareResourcesRequest* request,
                                              drapb::NodePrepareResourcesResponse* response) {
  for (const drapb::Claim& claim : request->claims()) {
    drapb::NodePrepareResourceResponse& entry = (*response->mutable_claims())[claim.uid()];
    Result<PreparedClaim> prepared =
        preparer_.Prepare({claim.uid(), claim.namespace_(), claim.name()});
    if (!prepared.ok()) {
      spdlog::warn("prepare {}/{} ({}): {}", claim.namespace_(), claim.name(), claim.uid(),
                   prepared.status().message());
      entry.set_error(prepared.status().message());
      continue;
    }
    for (const PreparedDevice& device : prepared->devices) {
      drapb::Device* out = entry.add_devices();
      for (const std::string& name : device.request_names) out->add_request_names(name);
      out->set_pool_name(device.pool);
      out->set_device_name(device.device);
      for (const std::string& id : device.cdi_device_ids) out->add_cdi_device_ids(id);
      if (!device.share_id.empty()) out->set_share_id(device.share_id);
    }
    spdlog::info("prepared {}/{} ({}): {} device(s), CDI spec {}", claim.namespace_(),
                 claim.name(), claim.uid(), prepared->devices.size(), prepared->cdi_spec_path);
  }
  return grpc::Status::OK;
}

grpc::Status DraService::NodeUnprepareResources(
    grpc::ServerContext*, const drapb::NodeUnprepareResourcesRequest* request,
    drapb::NodeUnprepareResourcesResponse* response) {
  for (const drapb::Claim& claim : request->claims()) {
    drapb::NodeUnprepareResourceResponse& entry = (*response->mutable_claims())[claim.uid()];
    const Status done = preparer_.Unprepare({claim.uid(), claim.namespace_(), claim.name()});
    if (!done.ok()) {
      spdlog::warn("unprepare {}/{} ({}): {}", claim.namespace_(), claim.name(), claim.uid(),
                   done.message());
      entry.set_error(done.message());
      continue;
    }
    spdlog::info("unprepared {}/{} ({})", claim.namespace_(), claim.name(), claim.uid());
  }
  return grpc::Status::OK;
}

void HealthFeed::Publish(std::vector<DeviceHealth> devices) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    devices_ = std::move(devices);
    ++version_;
  }
  changed_.notify_all();
}

bool HealthFeed::Next(uint64_t* version, std::vector<DeviceHealth>* devices,
                      std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait_for(lock, timeout, [&] { return closed_ || version_ > *version; });
  if (closed_) return false;
  *version = version_;
  *devices = devices_;
  return true;
}

void HealthFeed::Close() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = true;
  }
  changed_.notify_all();
}

grpc::Status HealthService::NodeWatchResources(
    grpc::ServerContext* context, const v1::NodeWatchResourcesRequest*,
    grpc::ServerWriter<v1::NodeWatchResourcesResponse>* writer) {
  uint64_t version = 0;
  uint64_t sent = 0;
  std::vector<DeviceHealth> devices;
  // The first call returns at once when anything was published; later ones on each change.
  while (!context->IsCancelled()) {
    if (!feed_.Next(&version, &devices, std::chrono::milliseconds(500))) break;
    if (version == sent) continue;
    v1::NodeWatchResourcesResponse response;
    const int64_t now = static_cast<int64_t>(std::time(nullptr));
    for (const DeviceHealth& device : devices) {
      v1::DeviceHealth* out = response.add_devices();
      out->mutable_device()->set_pool_name(device.pool);
      out->mutable_device()->set_device_name(device.device);
      out->set_health(device.healthy ? v1::HEALTHY : v1::UNHEALTHY);
      out->set_last_updated_time(now);
      out->set_message(device.message.substr(0, 1024));
    }
    if (!writer->Write(response)) break;
    sent = version;
  }
  return grpc::Status::OK;
}

grpc::Status RegistrationService::GetInfo(grpc::ServerContext*,
                                          const pluginregistration::InfoRequest*,
                                          pluginregistration::PluginInfo* info) {
  info->set_type("DRAPlugin");
  info->set_name(std::string(kDriverName));
  info->set_endpoint(endpoint_);
  info->add_supported_versions(std::string(kDraService));
  info->add_supported_versions(std::string(kHealthService));
  return grpc::Status::OK;
}

grpc::Status RegistrationService::NotifyRegistrationStatus(
    grpc::ServerContext*, const pluginregistration::RegistrationStatus* status,
    pluginregistration::RegistrationStatusResponse*) {
  registered_.store(status->plugin_registered());
  if (status->plugin_registered()) {
    spdlog::info("the kubelet registered DRA driver {}", kDriverName);
  } else {
    spdlog::error("the kubelet refused DRA driver {}: {}", kDriverName, status->error());
    std::lock_guard<std::mutex> lock(mutex_);
    last_error_ = status->error();
  }
  return grpc::Status::OK;
}

std::string RegistrationService::last_error() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return last_error_;
}

}  // namespace gpuslice::dra
