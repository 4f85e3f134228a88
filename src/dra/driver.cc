#include "dra/driver.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include "dra/claim_metrics.h"
#include "plugin/container_metrics.h"
#include "plugin/kubelet_client.h"
#include "plugin/mig.h"

namespace gpuslice::dra {
namespace {

std::string PluginDir(const core::Config& config) {
  return config.dra.kubelet_plugins_dir + "/" + std::string(kDriverName);
}

}  // namespace

Driver::Driver(DriverOptions options, core::Config config, gpu::GpuBackend& backend,
               kubeapi::Client& client, plugin::MetricsRegistry& metrics,
               const core::Clock& clock)
    : options_(std::move(options)),
      config_(std::move(config)),
      backend_(backend),
      client_(client),
      metrics_(metrics),
      clock_(clock),
      // A directory of its own: the device plugin's cleanup never judges a claim's region by
      // the kubelet's device plugin allocations, should a node change modes.
      regions_({config_.regions_host_dir + "/dra"}, clock_),
      contract_(config_.library_host_dir, regions_,
                options_.simulated_driver ? &*options_.simulated_driver : nullptr),
      publisher_(client_),
      tracker_(config_.health, clock_),
      compute_usage_(backend_) {
  PreparerOptions preparer;
  preparer.cdi_dir = config_.dra.cdi_dir;
  preparer.checkpoint_path = PluginDir(config_) + "/checkpoint.json";
  preparer.dra = config_.dra;
  preparer.real_gpus = !options_.simulated_driver.has_value();
  preparer_ = std::make_unique<ClaimPreparer>(
      preparer,
      [this](const std::string& ns, const std::string& name) {
        return client_.Get(kubeapi::types::kResourceClaims, ns, name);
      },
      [this] { return Snapshot(); }, contract_, regions_);
}

Driver::~Driver() { Stop(); }

std::string Driver::registration_socket() const {
  return config_.dra.kubelet_registry_dir + "/" + std::string(kDriverName) + "-reg.sock";
}

std::string Driver::dra_socket() const { return PluginDir(config_) + "/dra.sock"; }

bool Driver::registered() const {
  return registration_service_ != nullptr && registration_service_->registered();
}

std::vector<PreparedClaim> Driver::Prepared() const { return preparer_->Prepared(); }

std::vector<plugin::ResourceStatus> Driver::Resources() const {
  plugin::ResourceStatus status;
  status.resource = std::string(kDriverName);
  status.socket_path = dra_socket();
  status.serving = dra_server_ != nullptr && !stop_.load();
  status.registered = registered();
  for (const PublishedGpu& gpu : Snapshot().gpus) {
    ++status.devices;
    if (gpu.unhealthy_reason.empty()) ++status.healthy_devices;
  }
  return {status};
}

std::string Driver::RenderContainerMetrics() const {
  if (options_.pod_resources_socket.empty()) return plugin::RenderContainerMetrics({});
  // Listed at each scrape, as in device plugin mode: a container's series come with its first
  // scrape and go with the pod, and a kubelet that does not answer leaves them out.
  Result<std::vector<plugin::ContainerClaim>> listing = plugin::ListContainerClaims(
      options_.pod_resources_socket, plugin::kContainerMetricsListTimeout);
  if (!listing.ok()) {
    spdlog::debug("container metrics left out: {}", listing.status().message());
    return plugin::RenderContainerMetrics({});
  }
  return plugin::RenderContainerMetrics(
      plugin::CollectContainerUsage(regions_.Records(),
                                    ClaimAllocations(*listing, preparer_->Prepared()),
                                    &compute_usage_));
}

void Driver::SampleComputeUsage() {
  std::vector<std::string> uuids;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const PublishedGpu& gpu : gpus_) uuids.push_back(gpu.gpu.uuid);
  }
  compute_usage_.Sample(uuids);
}

NodeSnapshot Driver::Snapshot() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return {node_.node_name, gpus_, setups_};
}

Status Driver::Discover() {
  Result<gpu::Discovery> discovery = backend_.Discover();
  if (!discovery.ok()) return discovery.status();
  for (const std::string& failure : discovery->failures) {
    spdlog::warn("GPU not published: {}", failure);
  }
  plugin::LeaveOutMigGpus(discovery->gpus, metrics_);
  Result<std::vector<const core::SlicingProfile*>> profiles =
      core::AssignProfiles(config_, discovery->gpus);
  if (!profiles.ok()) return profiles.status();
  const std::map<std::string, std::string> unhealthy = tracker_.Unhealthy();
  std::vector<PublishedGpu> gpus;
  std::vector<GpuSetup> setups;
  std::vector<std::string> uuids;
  for (size_t i = 0; i < discovery->gpus.size(); ++i) {
    const core::GpuInfo& gpu = discovery->gpus[i];
    const core::SlicingProfile& profile = *(*profiles)[i];
    const auto reason = unhealthy.find(gpu.uuid);
    gpus.push_back({gpu, profile.reserved_memory_bytes,
                    reason == unhealthy.end() ? "" : reason->second});
    setups.push_back({profile.enforce_compute, profile.injection == core::LibraryInjection::kEnv});
    uuids.push_back(gpu.uuid);
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    gpus_ = std::move(gpus);
    setups_ = std::move(setups);
    node_.driver_version = discovery->driver_version;
    node_.cuda_driver_version = discovery->cuda_driver_version;
  }
  if (monitor_ != nullptr) monitor_->SetGpus(uuids);
  return Status::Ok();
}

Status Driver::Start() {
  if (options_.node_name.empty()) {
    return Status::InvalidArgument("the DRA driver needs the node's name (--node-name, or "
                                   "NODE_NAME from the pod's spec.nodeName)");
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    node_.node_name = options_.node_name;
  }
  GPUSLICE_RETURN_IF_ERROR(core::ValidateDraConfig(config_.dra));
  if (Status discovered = Discover(); !discovered.ok()) {
    return discovered.code() == StatusCode::kInvalidArgument ? discovered
                                                             : Status::Unavailable(discovered.message());
  }
  GPUSLICE_RETURN_IF_ERROR(plugin::WritePreloadFile(config_.library_host_dir));
  if (Status loaded = preparer_->Start(); !loaded.ok()) spdlog::error("{}", loaded.message());
  spdlog::info("{} prepared claim(s) from the checkpoint", preparer_->Prepared().size());

  std::error_code error;
  std::filesystem::create_directories(PluginDir(config_), error);
  if (error) return Status::Unavailable("cannot create " + PluginDir(config_) + ": " + error.message());
  std::filesystem::create_directories(config_.dra.kubelet_registry_dir, error);
  if (error) {
    return Status::Unavailable("cannot create " + config_.dra.kubelet_registry_dir + ": " +
                               error.message());
  }

  monitor_ = std::make_unique<plugin::HealthMonitor>(
      backend_, tracker_, options_.health, [this] { Wake(); },
      [](const gpu::XidEvent& event, bool critical) {
        spdlog::log(critical ? spdlog::level::warn : spdlog::level::info, "XID {} on {}{}",
                    event.xid, event.gpu_uuid.empty() ? "every GPU" : event.gpu_uuid,
                    critical ? "" : " (ignored)");
      });
  {
    std::vector<std::string> uuids;
    for (const PublishedGpu& gpu : Snapshot().gpus) uuids.push_back(gpu.gpu.uuid);
    monitor_->SetGpus(uuids);
  }
  if (config_.health.enabled) monitor_->Start();

  dra_service_ = std::make_unique<DraService>(*preparer_);
  health_service_ = std::make_unique<HealthService>(health_feed_);
  Result<std::unique_ptr<plugin::UnixSocketServer>> dra_server = plugin::UnixSocketServer::Start(
      dra_socket(), std::vector<grpc::Service*>{dra_service_.get(), health_service_.get()});
  if (!dra_server.ok()) return dra_server.status();
  dra_server_ = std::move(*dra_server);
  // Registered last: when the kubelet sees the registration socket, the endpoint answers.
  registration_service_ = std::make_unique<RegistrationService>(dra_socket());
  Result<std::unique_ptr<plugin::UnixSocketServer>> registration =
      plugin::UnixSocketServer::Start(registration_socket(), registration_service_.get());
  if (!registration.ok()) return registration.status();
  registration_server_ = std::move(*registration);
  PublishHealth();
  watcher_ = std::thread([this] { WatchSlices(); });
  spdlog::info("DRA driver {} on node {}: {} GPU(s); serving {}, registering at {}", kDriverName,
               options_.node_name, Snapshot().gpus.size(), dra_socket(), registration_socket());
  return Status::Ok();
}

nlohmann::json Driver::DesiredSlice() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return BuildResourceSlice(gpus_, node_, config_.dra, /*generation=*/1);
}

void Driver::PublishHealth() {
  std::vector<DeviceHealth> devices;
  const NodeSnapshot node = Snapshot();
  for (const PublishedGpu& gpu : node.gpus) {
    devices.push_back({node.pool, DeviceName(gpu.gpu), gpu.unhealthy_reason.empty(),
                       gpu.unhealthy_reason});
  }
  health_feed_.Publish(std::move(devices));
}

void Driver::Wake() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    dirty_ = true;
  }
  wake_.notify_all();
}

void Driver::Run() {
  using SteadyClock = std::chrono::steady_clock;
  SteadyClock::time_point next_resync = SteadyClock::now() + options_.resync;
  // When the failed publish is tried again; max() while none failed.
  SteadyClock::time_point retry_at = SteadyClock::time_point::max();
  SteadyClock::time_point next_compute_sample = SteadyClock::now();
  std::chrono::milliseconds backoff = options_.retry_initial;
  while (!stop_.load()) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      const SteadyClock::time_point until =
          std::min({retry_at, next_resync, next_compute_sample});
      wake_.wait_until(lock, until, [&] { return stop_.load() || dirty_; });
      if (stop_.load()) break;
    }
    const SteadyClock::time_point now = SteadyClock::now();
    if (now >= next_compute_sample) {
      SampleComputeUsage();
      next_compute_sample = now + options_.compute_sample_interval;
    }
    if (now >= next_resync) {
      if (Status discovered = Discover(); !discovered.ok()) {
        spdlog::warn("rediscovering the GPUs: {}", discovered.message());
      }
      next_resync = now + options_.resync;
      Wake();
    }
    bool due = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      due = dirty_ || now >= retry_at;
      dirty_ = false;
      // Health first: an unhealthy GPU is tainted in the very slice written below.
      const std::map<std::string, std::string> unhealthy = tracker_.Unhealthy();
      for (PublishedGpu& gpu : gpus_) {
        const auto reason = unhealthy.find(gpu.gpu.uuid);
        gpu.unhealthy_reason = reason == unhealthy.end() ? "" : reason->second;
      }
    }
    if (!due) continue;
    bool owner_known = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      owner_known = !node_.node_uid.empty();
    }
    if (!owner_known) {
      Result<nlohmann::json> node = client_.Get(kubeapi::types::kNodes, "", options_.node_name);
      if (node.ok()) {
        std::lock_guard<std::mutex> lock(mutex_);
        node_.node_uid = (*node)["metadata"].value("uid", "");
      } else {
        spdlog::warn("reading node {} for the slice's owner: {}", options_.node_name,
                     node.status().message());
      }
    }
    PublishHealth();
    const Status published = publisher_.Reconcile(DesiredSlice());
    if (published.ok()) {
      published_.store(true);
      retry_at = SteadyClock::time_point::max();
      backoff = options_.retry_initial;
    } else {
      spdlog::warn("publishing the ResourceSlice (retry in {} ms): {}", backoff.count(),
                   published.message());
      retry_at = SteadyClock::now() + backoff;
      backoff = std::min(backoff * 2, options_.retry_max);
    }
  }
}

void Driver::WatchSlices() {
  std::chrono::milliseconds backoff = options_.retry_initial;
  const std::string selector =
      "spec.nodeName=" + options_.node_name + ",spec.driver=" + std::string(kDriverName);
  auto pause = [&] {
    std::unique_lock<std::mutex> lock(mutex_);
    wake_.wait_for(lock, backoff, [&] { return stop_.load(); });
    backoff = std::min(backoff * 2, options_.retry_max);
  };
  while (!stop_.load()) {
    kubeapi::ListOptions list_options;
    list_options.field_selector = selector;
    Result<nlohmann::json> list = client_.List(kubeapi::types::kResourceSlices, "", list_options);
    if (!list.ok()) {
      spdlog::warn("listing ResourceSlices: {}", list.status().message());
      pause();
      continue;
    }
    kubeapi::WatchOptions watch;
    watch.resource_version = (*list)["metadata"].value("resourceVersion", "");
    watch.field_selector = selector;
    Result<kubeapi::WatchEnd> end = client_.Watch(
        kubeapi::types::kResourceSlices, "", watch,
        [&](const kubeapi::WatchEvent& event) {
          if (event.type == "BOOKMARK") return true;
          // Something else changed or deleted the slice (the kubelet wipes slices when it
          // starts): publish again.
          if (event.type == "DELETED" || !SameSliceContent(event.object, DesiredSlice())) Wake();
          return true;
        },
        &stop_);
    if (!end.ok()) {
      spdlog::warn("watching ResourceSlices: {}", end.status().message());
      pause();
      continue;
    }
    backoff = options_.retry_initial;
  }
}

void Driver::Stop() {
  if (stop_.exchange(true)) return;
  wake_.notify_all();
  // The registration socket first: the kubelet stops calling before the endpoint goes.
  if (registration_server_ != nullptr) registration_server_->Stop();
  health_feed_.Close();
  if (dra_server_ != nullptr) dra_server_->Stop();
  if (monitor_ != nullptr) monitor_->Stop();
  if (watcher_.joinable()) watcher_.join();
}

}  // namespace gpuslice::dra
