#include "kubelet/device_manager.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

#include "core/slicing.h"
#include "deviceplugin/v1beta1/api.grpc.pb.h"
#include "podresources/v1/api.grpc.pb.h"

namespace gpuslice::kubelet {
namespace {

namespace fs = std::filesystem;
constexpr const char* kKubeletSocket = "kubelet.sock";
constexpr const char* kApiVersion = "v1beta1";

// The plugin's refusal as the kubelet reports it: the call and the plugin's own message.
Status FromGrpc(const grpc::Status& status, const std::string& call) {
  if (status.ok()) return Status::Ok();
  return Status(status.error_code() == grpc::StatusCode::UNAVAILABLE ? StatusCode::kUnavailable
                                                                     : StatusCode::kInternal,
                call + " failed: " + status.error_message());
}

}  // namespace

class DeviceManager::Impl final : public v1beta1::Registration::Service,
                                  public v1::PodResourcesLister::Service {
 public:
  explicit Impl(DeviceManagerOptions options) : options_(std::move(options)) {}
  ~Impl() override { Shutdown(); }

  Status Serve();
  void Shutdown();

  grpc::Status Register(grpc::ServerContext*, const v1beta1::RegisterRequest* request,
                        v1beta1::Empty*) override;
  grpc::Status List(grpc::ServerContext*, const v1::ListPodResourcesRequest*,
                    v1::ListPodResourcesResponse* response) override;

  // One registered plugin: its client, options and the stream reading its devices.
  struct Plugin {
    std::string endpoint;
    std::shared_ptr<grpc::Channel> channel;
    // Shared: an Allocate in flight keeps using the stub while the plugin registers again.
    std::shared_ptr<v1beta1::DevicePlugin::Stub> stub;
    bool preferred_allocation = false;
    std::vector<DeviceState> devices;
    int updates = 0;
    std::shared_ptr<grpc::ClientContext> stream_context;
    std::thread reader;
  };

  void ReadStream(const std::string& resource, const std::string& endpoint,
                  std::shared_ptr<grpc::ClientContext> context,
                  std::shared_ptr<v1beta1::DevicePlugin::Stub> stub);
  void StopPlugin(Plugin& plugin);

  DeviceManagerOptions options_;
  std::unique_ptr<grpc::Server> registration_server_;
  std::unique_ptr<grpc::Server> pod_resources_server_;

  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::map<std::string, Plugin> plugins_;
  std::vector<Registration> registrations_;
  std::map<std::string, int> accepted_;  // accepted registrations per resource, ever
  // Endpoints whose ListAndWatch stream is open. Like the kubelet (v1.37), a registration at
  // one of them is refused, and the refused endpoint stays listed after its stream ends: the
  // kubelet drops its record of the live connection while rejecting the duplicate, so it
  // never learns that the connection ended and refuses that path until it restarts.
  std::set<std::string> connected_endpoints_;
  std::set<std::string> wedged_endpoints_;
  std::vector<ContainerAllocation> allocations_;
};

Status DeviceManager::Impl::Serve() {
  const std::string socket = options_.device_plugin_dir + "/" + kKubeletSocket;
  std::error_code error;
  fs::create_directories(options_.device_plugin_dir, error);
  fs::remove(socket, error);
  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix://" + socket, grpc::InsecureServerCredentials());
  builder.RegisterService(static_cast<v1beta1::Registration::Service*>(this));
  registration_server_ = builder.BuildAndStart();
  if (registration_server_ == nullptr) {
    return Status::Unavailable("cannot serve the kubelet's Registration on " + socket);
  }
  if (!options_.pod_resources_socket.empty() && pod_resources_server_ == nullptr) {
    fs::create_directories(fs::path(options_.pod_resources_socket).parent_path(), error);
    fs::remove(options_.pod_resources_socket, error);
    grpc::ServerBuilder pod_resources;
    pod_resources.AddListeningPort("unix://" + options_.pod_resources_socket,
                                   grpc::InsecureServerCredentials());
    pod_resources.RegisterService(static_cast<v1::PodResourcesLister::Service*>(this));
    pod_resources_server_ = pod_resources.BuildAndStart();
    if (pod_resources_server_ == nullptr) {
      return Status::Unavailable("cannot serve PodResources on " + options_.pod_resources_socket);
    }
  }
  return Status::Ok();
}

void DeviceManager::Impl::StopPlugin(Plugin& plugin) {
  if (plugin.stream_context != nullptr) plugin.stream_context->TryCancel();
  if (plugin.reader.joinable()) plugin.reader.join();
}

void DeviceManager::Impl::Shutdown() {
  if (registration_server_ != nullptr) {
    registration_server_->Shutdown(std::chrono::system_clock::now());
    registration_server_->Wait();
    registration_server_.reset();
  }
  std::map<std::string, Plugin> plugins;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    plugins.swap(plugins_);
  }
  for (auto& [resource, plugin] : plugins) StopPlugin(plugin);
  // A restarted kubelet starts with no connections at all.
  std::lock_guard<std::mutex> lock(mutex_);
  connected_endpoints_.clear();
  wedged_endpoints_.clear();
}

grpc::Status DeviceManager::Impl::Register(grpc::ServerContext*,
                                           const v1beta1::RegisterRequest* request,
                                           v1beta1::Empty*) {
  Status result;
  if (request->version() != kApiVersion) {
    result = Status::InvalidArgument("unsupported device plugin API version \"" +
                                     request->version() + "\"");
  } else if (Status valid = core::ValidateResourceName(request->resource_name()); !valid.ok()) {
    result = valid;
  } else if (request->endpoint().empty() || request->endpoint().find('/') != std::string::npos) {
    result = Status::InvalidArgument("endpoint \"" + request->endpoint() +
                                     "\" is not a file name in the device plugin directory");
  } else {
    std::lock_guard<std::mutex> lock(mutex_);
    if (connected_endpoints_.count(request->endpoint()) > 0) {
      wedged_endpoints_.insert(request->endpoint());
      result = Status::AlreadyExists("device plugin already connected: " +
                                     options_.device_plugin_dir + "/" + request->endpoint());
    } else {
      connected_endpoints_.insert(request->endpoint());
    }
  }
  if (result.ok()) {
    Plugin plugin;
    plugin.endpoint = request->endpoint();
    plugin.channel = grpc::CreateChannel(
        "unix://" + options_.device_plugin_dir + "/" + request->endpoint(),
        grpc::InsecureChannelCredentials());
    plugin.stub = v1beta1::DevicePlugin::NewStub(plugin.channel);
    plugin.preferred_allocation = request->options().get_preferred_allocation_available();
    plugin.stream_context = std::make_shared<grpc::ClientContext>();
    Plugin previous;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = plugins_.find(request->resource_name());
      if (it != plugins_.end()) {
        previous = std::move(it->second);
        plugins_.erase(it);
      }
    }
    StopPlugin(previous);
    std::lock_guard<std::mutex> lock(mutex_);
    ++accepted_[request->resource_name()];
    Plugin& stored = plugins_[request->resource_name()] = std::move(plugin);
    stored.reader = std::thread(&Impl::ReadStream, this, request->resource_name(),
                                request->endpoint(), stored.stream_context, stored.stub);
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    registrations_.push_back({request->resource_name(), request->endpoint(), result});
  }
  changed_.notify_all();
  if (result.ok()) return grpc::Status::OK;
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, result.message());
}

void DeviceManager::Impl::ReadStream(const std::string& resource, const std::string& endpoint,
                                     std::shared_ptr<grpc::ClientContext> context,
                                     std::shared_ptr<v1beta1::DevicePlugin::Stub> stub) {
  v1beta1::Empty request;
  std::unique_ptr<grpc::ClientReader<v1beta1::ListAndWatchResponse>> reader =
      stub->ListAndWatch(context.get(), request);
  v1beta1::ListAndWatchResponse response;
  while (reader->Read(&response)) {
    std::vector<DeviceState> devices;
    for (const auto& device : response.devices()) {
      DeviceState state{device.id(), device.health() == "Healthy", {}};
      for (const auto& node : device.topology().nodes()) state.numa_nodes.push_back(node.id());
      devices.push_back(std::move(state));
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = plugins_.find(resource);
      if (it == plugins_.end() || it->second.stream_context != context) break;
      it->second.devices = std::move(devices);
      ++it->second.updates;
    }
    changed_.notify_all();
  }
  reader->Finish();
  // The kubelet keeps the devices of a plugin whose stream ended, but unhealthy.
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (wedged_endpoints_.count(endpoint) == 0) connected_endpoints_.erase(endpoint);
    auto it = plugins_.find(resource);
    if (it != plugins_.end() && it->second.stream_context == context) {
      for (DeviceState& device : it->second.devices) device.healthy = false;
    }
  }
  changed_.notify_all();
}

grpc::Status DeviceManager::Impl::List(grpc::ServerContext*, const v1::ListPodResourcesRequest*,
                                       v1::ListPodResourcesResponse* response) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::map<std::string, v1::PodResources*> pods;
  for (const ContainerAllocation& allocation : allocations_) {
    v1::PodResources*& pod = pods[allocation.pod];
    if (pod == nullptr) {
      pod = response->add_pod_resources();
      const size_t slash = allocation.pod.find('/');
      pod->set_namespace_(allocation.pod.substr(0, slash));
      pod->set_name(allocation.pod.substr(slash + 1));
    }
    v1::ContainerResources* container = pod->add_containers();
    container->set_name(allocation.container);
    v1::ContainerDevices* devices = container->add_devices();
    devices->set_resource_name(allocation.resource);
    for (const std::string& id : allocation.device_ids) devices->add_device_ids(id);
  }
  return grpc::Status::OK;
}

Result<std::unique_ptr<DeviceManager>> DeviceManager::Start(DeviceManagerOptions options) {
  auto impl = std::make_unique<Impl>(std::move(options));
  GPUSLICE_RETURN_IF_ERROR(impl->Serve());
  return std::unique_ptr<DeviceManager>(new DeviceManager(std::move(impl)));
}

DeviceManager::DeviceManager(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DeviceManager::~DeviceManager() = default;

std::vector<DeviceManager::Registration> DeviceManager::Registrations() const {
  std::lock_guard<std::mutex> lock(impl_->mutex_);
  return impl_->registrations_;
}

std::vector<DeviceState> DeviceManager::Devices(const std::string& resource) const {
  std::lock_guard<std::mutex> lock(impl_->mutex_);
  auto it = impl_->plugins_.find(resource);
  return it == impl_->plugins_.end() ? std::vector<DeviceState>{} : it->second.devices;
}

int DeviceManager::Updates(const std::string& resource) const {
  std::lock_guard<std::mutex> lock(impl_->mutex_);
  auto it = impl_->plugins_.find(resource);
  return it == impl_->plugins_.end() ? 0 : it->second.updates;
}

bool DeviceManager::WaitForDevices(
    const std::string& resource,
    const std::function<bool(const std::vector<DeviceState>&)>& predicate,
    std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(impl_->mutex_);
  return impl_->changed_.wait_for(lock, timeout, [&] {
    auto it = impl_->plugins_.find(resource);
    return it != impl_->plugins_.end() && predicate(it->second.devices);
  });
}

bool DeviceManager::WaitForRegistrations(const std::string& resource, int count,
                                         std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(impl_->mutex_);
  return impl_->changed_.wait_for(lock, timeout, [&] {
    auto it = impl_->accepted_.find(resource);
    return it != impl_->accepted_.end() && it->second >= count;
  });
}

Result<ContainerAllocation> DeviceManager::Allocate(const std::string& pod,
                                                    const std::string& container,
                                                    const std::string& resource, int count) {
  std::vector<std::string> available;
  std::shared_ptr<v1beta1::DevicePlugin::Stub> stub;
  bool preferred = false;
  {
    std::lock_guard<std::mutex> lock(impl_->mutex_);
    auto it = impl_->plugins_.find(resource);
    if (it == impl_->plugins_.end()) {
      return Status::NotFound("no device plugin registered " + resource);
    }
    std::set<std::string> in_use;
    for (const ContainerAllocation& a : impl_->allocations_) {
      if (a.resource == resource) in_use.insert(a.device_ids.begin(), a.device_ids.end());
    }
    for (const DeviceState& device : it->second.devices) {
      if (device.healthy && in_use.count(device.id) == 0) available.push_back(device.id);
    }
    stub = it->second.stub;
    preferred = it->second.preferred_allocation;
  }
  if (static_cast<int>(available.size()) < count) {
    return Status::ResourceExhausted("insufficient " + resource + ": " + std::to_string(count) +
                                     " requested, " + std::to_string(available.size()) +
                                     " available");
  }
  ContainerAllocation allocation;
  allocation.pod = pod;
  allocation.container = container;
  allocation.resource = resource;
  if (preferred) {
    v1beta1::PreferredAllocationRequest request;
    auto* container_request = request.add_container_requests();
    for (const std::string& id : available) container_request->add_available_deviceids(id);
    container_request->set_allocation_size(count);
    v1beta1::PreferredAllocationResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    GPUSLICE_RETURN_IF_ERROR(FromGrpc(stub->GetPreferredAllocation(&context, request, &response),
                                      "GetPreferredAllocation"));
    if (response.container_responses_size() != 1) {
      return Status::InvalidArgument("GetPreferredAllocation answered " +
                                     std::to_string(response.container_responses_size()) +
                                     " containers for 1");
    }
    const std::set<std::string> offered(available.begin(), available.end());
    for (const std::string& id : response.container_responses(0).deviceids()) {
      if (offered.count(id) == 0) {
        return Status::InvalidArgument("preferred allocation includes unavailable device " + id);
      }
      allocation.device_ids.push_back(id);
    }
    if (static_cast<int>(allocation.device_ids.size()) != count) {
      return Status::InvalidArgument("preferred allocation has " +
                                     std::to_string(allocation.device_ids.size()) +
                                     " devices, not " + std::to_string(count));
    }
    allocation.used_preferred_allocation = true;
  } else {
    allocation.device_ids.assign(available.begin(), available.begin() + count);
  }
  v1beta1::AllocateRequest request;
  auto* container_request = request.add_container_requests();
  for (const std::string& id : allocation.device_ids) container_request->add_devicesids(id);
  v1beta1::AllocateResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  GPUSLICE_RETURN_IF_ERROR(
      FromGrpc(stub->Allocate(&context, request, &response), "Allocate"));
  if (response.container_responses_size() != 1) {
    return Status::InvalidArgument("Allocate answered " +
                                   std::to_string(response.container_responses_size()) +
                                   " containers for 1");
  }
  const auto& answer = response.container_responses(0);
  allocation.envs.insert(answer.envs().begin(), answer.envs().end());
  for (const auto& mount : answer.mounts()) {
    allocation.mounts.push_back({mount.container_path(), mount.host_path(), mount.read_only()});
  }
  for (const auto& device : answer.devices()) {
    allocation.devices.push_back(
        {device.container_path(), device.host_path(), device.permissions()});
  }
  allocation.annotations.insert(answer.annotations().begin(), answer.annotations().end());
  for (const auto& device : answer.cdi_devices()) allocation.cdi_devices.push_back(device.name());
  std::lock_guard<std::mutex> lock(impl_->mutex_);
  impl_->allocations_.push_back(allocation);
  return allocation;
}

void DeviceManager::ReleasePod(const std::string& pod) {
  std::lock_guard<std::mutex> lock(impl_->mutex_);
  std::erase_if(impl_->allocations_, [&](const ContainerAllocation& a) { return a.pod == pod; });
}

Status DeviceManager::Restart() {
  impl_->Shutdown();
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(impl_->options_.device_plugin_dir, error)) {
    fs::remove_all(entry.path(), error);
  }
  return impl_->Serve();
}

}  // namespace gpuslice::kubelet
