#include "plugin/plugin_manager.h"

#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

#include "io/file.h"
#include "plugin/allocator.h"
#include "plugin/cdi.h"
#include "plugin/container_metrics.h"
#include "plugin/kubelet_client.h"
#include "plugin/mig.h"
#include "plugin/reslicing.h"

namespace gpuslice::plugin {
namespace {

namespace fs = std::filesystem;

bool Exists(const std::string& path) {
  struct stat info {};
  return stat(path.c_str(), &info) == 0;
}

constexpr std::string_view kSocketPrefix = "gpuslice-";
constexpr std::string_view kSocketSuffix = ".sock";

// "nvidia.com/gpu" -> "gpuslice-nvidia.com_gpu.<pid>-<n>.sock": a fresh path for every server
// start. The kubelet keys plugin connections by socket path and refuses a registration at a
// path it is still connected to; it then also forgets the live connection, so that path could
// never register again until the kubelet restarts. A restarted server (its socket deleted, the
// plugin's pod replaced) would race the kubelet noticing the old one's end.
std::string SocketName(const std::string& resource, uint64_t generation) {
  std::string name = std::string(kSocketPrefix) + resource + "." + std::to_string(getpid()) +
                     "-" + std::to_string(generation) + std::string(kSocketSuffix);
  std::replace(name.begin(), name.end(), '/', '_');
  return name;
}

// The kubelet instance behind `socket`: its inode, new with every kubelet start. 0 if absent.
ino_t KubeletInstance(const std::string& socket) {
  struct stat info {};
  return stat(socket.c_str(), &info) == 0 ? info.st_ino : 0;
}

// Removes sockets of gpuslice plugins that no longer serve (a plugin killed before it could
// clean up): nothing answers there, and the kubelet only lists them as clutter.
void RemoveDeadSockets(const std::string& dir) {
  std::error_code error;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, error)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(kSocketPrefix, 0) != 0 || name.size() < kSocketSuffix.size() ||
        name.compare(name.size() - kSocketSuffix.size(), kSocketSuffix.size(), kSocketSuffix) != 0 ||
        !entry.is_socket(error)) {
      continue;
    }
    const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return;
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    const std::string path = entry.path().string();
    if (path.size() >= sizeof(address.sun_path)) {
      close(fd);
      continue;
    }
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    const bool refused = connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 &&
                         errno == ECONNREFUSED;
    close(fd);
    if (refused && unlink(path.c_str()) == 0) spdlog::info("removed dead socket {}", path);
  }
}

std::string BaseName(const std::string& path) { return fs::path(path).filename().string(); }
std::string DirName(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  return parent.empty() ? "." : parent.string();
}

// A label value can name a per-node config: what Kubernetes allows in label values (so no '/'
// and no path of its own), and not starting with '.'.
bool IsNodeConfigName(std::string_view name) {
  if (name.empty() || name.size() > 63 || name.front() == '.') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

}  // namespace

std::string NodeConfigPath(const std::string& config_path, std::string_view name) {
  return DirName(config_path) + "/" + std::string(kNodeConfigFilePrefix) + std::string(name) +
         ".yaml";
}

struct PluginManager::Server {
  std::string resource;
  std::string socket_path;
  std::unique_ptr<DevicePluginService> service;
  std::unique_ptr<UnixSocketServer> server;
  bool registered = false;
  // The kubelet instance this server registered with: a new one needs a new registration, the
  // same one must never get a second (see SocketName).
  ino_t registered_with = 0;
  std::chrono::milliseconds backoff{0};
  core::Clock::TimePoint next_attempt;
};

PluginManager::PluginManager(PluginManagerOptions options, core::Config config,
                             gpu::GpuBackend& backend, MetricsRegistry& metrics,
                             const core::Clock& clock)
    : options_(std::move(options)),
      backend_(backend),
      metrics_(metrics),
      clock_(clock),
      tracker_(config.health, clock),
      config_(std::make_shared<const core::Config>(std::move(config))),
      compute_usage_(backend) {
  DeclarePluginMetrics(metrics_);
  active_config_path_ = options_.node_config && !options_.config_path.empty()
                            ? NodeConfigPath(options_.config_path, *options_.node_config)
                            : options_.config_path;
  metrics_.Set(kMetricNodeConfig, {{"name", options_.node_config.value_or("default")}}, 1);
}

PluginManager::~PluginManager() {
  Stop();
  if (monitor_ != nullptr) monitor_->Stop();
  std::lock_guard<std::mutex> lock(servers_mutex_);
  for (auto& server : servers_) {
    if (server->service != nullptr) server->service->Stop();
    server->server.reset();
  }
  servers_.clear();
  if (inotify_fd_ >= 0) close(inotify_fd_);
  if (wake_fd_ >= 0) close(wake_fd_);
}

std::string PluginManager::NextSocketPath(const std::string& resource) {
  return config_->device_plugin_dir + "/" + SocketName(resource, ++socket_generation_);
}

Status PluginManager::Start() {
  inotify_fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (inotify_fd_ < 0 || wake_fd_ < 0) {
    return Status::Internal(std::string("cannot create inotify/eventfd: ") + std::strerror(errno));
  }
  if (!options_.config_path.empty()) {
    Result<std::string> text = io::ReadFile(active_config_path_);
    if (text.ok()) config_text_ = *text;
    config_dir_watch_ =
        inotify_add_watch(inotify_fd_, DirName(options_.config_path).c_str(),
                          IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE);
    if (config_dir_watch_ < 0) {
      spdlog::warn("cannot watch {} for config changes ({}); reload with SIGHUP",
                   DirName(options_.config_path), std::strerror(errno));
    }
  }
  monitor_ = std::make_unique<HealthMonitor>(
      backend_, tracker_, options_.health, [this] { PublishHealth(); },
      [this](const gpu::XidEvent& event, bool critical) {
        const std::string gpu = event.gpu_uuid.empty() ? "all" : event.gpu_uuid;
        metrics_.Increment(kMetricXidEvents, {{"gpu", gpu},
                                              {"xid", std::to_string(event.xid)},
                                              {"critical", critical ? "true" : "false"}});
        if (critical) {
          spdlog::error("critical XID {} on GPU {}: marking its slices unhealthy", event.xid, gpu);
        } else {
          spdlog::info("XID {} on GPU {} (ignored: application error)", event.xid, gpu);
        }
      });
  GPUSLICE_RETURN_IF_ERROR(ApplyConfig(*config_));
  monitor_->Start();
  // The kubelet may have just (re)started too: its pod listing is complete only once it has
  // synced its pods, so region cleanup waits a grace period.
  next_gc_ = clock_.Now() + options_.region_grace;
  next_reslice_check_ = clock_.Now() + options_.reslice_check_interval;
  return Status::Ok();
}

Status PluginManager::ApplyConfig(core::Config config) {
  Result<gpu::Discovery> discovery = backend_.Discover();
  if (!discovery.ok()) return discovery.status();
  for (const std::string& failure : discovery->failures) {
    spdlog::error("{}: not advertised until it answers (SIGHUP rediscovers)", failure);
  }
  if (discovery->gpus.empty() && !discovery->failures.empty()) {
    return Status::Unavailable("no GPU answers NVML: " + discovery->failures.front());
  }
  LeaveOutMigGpus(discovery->gpus, metrics_);
  Result<std::vector<const core::SlicingProfile*>> assigned =
      core::AssignProfiles(config, discovery->gpus);
  if (!assigned.ok()) return assigned.status();

  // A GPU with containers on it keeps its slicing until they are gone (plugin/reslicing.h).
  const PluginSnapshot previous = state_.Get();
  std::shared_ptr<RegionStore> regions =
      previous.regions != nullptr && previous.regions->root() == config.regions_host_dir
          ? previous.regions
          : std::make_shared<RegionStore>(
                RegionStoreOptions{config.regions_host_dir, options_.region_grace,
                                   options_.region_confirmation},
                clock_);
  std::set<std::string> live_gpus;
  std::vector<AllocationRecord> records = regions->Records();
  Result<std::vector<LiveAllocation>> live =
      ListLiveAllocations(options_.pod_resources_socket, std::chrono::seconds(5));
  if (live.ok()) {
    live_gpus = GpusOf(*live);
  } else {
    // Without the kubelet's word, every recorded allocation counts as live: safe, if slower.
    for (const AllocationRecord& record : records) {
      for (const RecordedSlicing& gpu : record.gpus) live_gpus.insert(gpu.gpu_uuid);
    }
  }
  const std::map<std::string, core::SlicingProfile> kept = ProfilesToKeep(
      discovery->gpus, *assigned, previous.inventory.get(), records, live_gpus);
  Result<Inventory> inventory = Inventory::Build(config, discovery->gpus, kept);
  if (!inventory.ok()) return inventory.status();
  std::error_code error;
  fs::create_directories(config.device_plugin_dir, error);
  if (!error) RemoveDeadSockets(config.device_plugin_dir);
  if (error) {
    return Status::Unavailable("cannot create device plugin directory " +
                               config.device_plugin_dir + ": " + error.message());
  }
  Status preload = WritePreloadFile(config.library_host_dir);
  if (!preload.ok()) spdlog::warn("{}", preload.message());
  if (options_.simulated_driver && !options_.simulated_driver->cdi_spec_dir.empty()) {
    SimulatedCdiSpec spec{options_.simulated_driver->cdi_spec_dir,
                          config.library_host_dir,
                          options_.simulated_driver->state_host_path,
                          {}};
    for (const SlicedGpu& sliced : inventory->gpus()) spec.gpu_uuids.push_back(sliced.gpu.uuid);
    Status written = WriteSimulatedCdiSpec(spec);
    if (!written.ok()) {
      metrics_.Increment(kMetricCdiSpecErrors, {});
      spdlog::error("{}: containers given CDI devices cannot start", written.message());
    }
  }

  const bool dir_changed = config_->device_plugin_dir != config.device_plugin_dir;
  if (dir_changed || plugin_dir_watch_ < 0) {
    if (plugin_dir_watch_ >= 0) inotify_rm_watch(inotify_fd_, plugin_dir_watch_);
    plugin_dir_watch_ = inotify_add_watch(inotify_fd_, config.device_plugin_dir.c_str(),
                                          IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM);
    if (plugin_dir_watch_ < 0) {
      return Status::Unavailable("cannot watch " + config.device_plugin_dir + ": " +
                                 std::strerror(errno));
    }
  }
  if (dir_changed) {
    std::lock_guard<std::mutex> lock(servers_mutex_);
    for (auto& server : servers_) server->service->Stop();
    servers_.clear();
  }
  tracker_.SetConfig(config.health);

  auto shared_inventory = std::make_shared<const Inventory>(std::move(*inventory));
  std::vector<std::string> uuids;
  metrics_.Clear(kMetricGpuSlices);
  metrics_.Clear(kMetricReslicePending);
  for (size_t i = 0; i < shared_inventory->gpus().size(); ++i) {
    const SlicedGpu& sliced = shared_inventory->gpus()[i];
    uuids.push_back(sliced.gpu.uuid);
    const Labels gpu_labels = {{"gpu", sliced.gpu.uuid},
                               {"index", std::to_string(sliced.gpu.index)}};
    metrics_.Set(kMetricGpuSlices,
                 {{"gpu", sliced.gpu.uuid},
                  {"index", std::to_string(sliced.gpu.index)},
                  {"model", sliced.gpu.name},
                  {"profile", sliced.profile.name.empty() ? "default" : sliced.profile.name},
                  {"resource", sliced.profile.resource_name}},
                 sliced.profile.slices);
    const bool deferred = kept.count(sliced.gpu.uuid) > 0;
    metrics_.Set(kMetricReslicePending, gpu_labels, deferred ? 1 : 0);
    if (deferred) {
      // `assigned` follows discovery order, the inventory GPU index order.
      const auto discovered =
          std::find_if(discovery->gpus.begin(), discovery->gpus.end(),
                       [&](const core::GpuInfo& gpu) { return gpu.uuid == sliced.gpu.uuid; });
      const core::SlicingProfile& wanted =
          *(*assigned)[static_cast<size_t>(discovered - discovery->gpus.begin())];
      spdlog::warn("GPU {} {}: keeps {} slice(s) of {} while containers hold them; {} slice(s) "
                   "of {} follow once it is free",
                   sliced.gpu.index, sliced.gpu.uuid, sliced.profile.slices,
                   sliced.profile.resource_name, wanted.slices, wanted.resource_name);
    }
    spdlog::info("GPU {} {} ({}, {} MiB): {} slice(s) of {}", sliced.gpu.index, sliced.gpu.uuid,
                 sliced.gpu.name, sliced.gpu.memory_bytes >> 20, sliced.profile.slices,
                 sliced.profile.resource_name);
  }
  reslice_pending_.clear();
  for (const auto& [uuid, profile] : kept) reslice_pending_.insert(uuid);
  monitor_->SetGpus(uuids);
  config_ = std::make_shared<const core::Config>(std::move(config));
  state_.SetInventory(config_, shared_inventory, std::move(regions));
  PublishHealth();
  Reconcile();
  return Status::Ok();
}

void PluginManager::Reconcile() {
  const std::vector<std::string> wanted = state_.Get().inventory->ResourceNames();
  std::vector<std::unique_ptr<Server>> stopped;
  {
    std::lock_guard<std::mutex> lock(servers_mutex_);
    for (auto it = servers_.begin(); it != servers_.end();) {
      if (std::find(wanted.begin(), wanted.end(), (*it)->resource) != wanted.end()) {
        ++it;
        continue;
      }
      spdlog::info("{}: no longer configured, stopping its server", (*it)->resource);
      (*it)->service->Stop();
      stopped.push_back(std::move(*it));
      it = servers_.erase(it);
    }
    for (const std::string& resource : wanted) {
      const bool exists = std::any_of(servers_.begin(), servers_.end(),
                                      [&](const auto& s) { return s->resource == resource; });
      if (exists) continue;
      auto server = std::make_unique<Server>();
      server->resource = resource;
      server->service = std::make_unique<DevicePluginService>(
          resource, state_, metrics_,
          options_.simulated_driver ? &*options_.simulated_driver : nullptr, options_.driver_root);
      servers_.push_back(std::move(server));
    }
  }
  stopped.clear();  // joins their gRPC servers outside the lock
  for (auto& server : servers_) {
    if (server->server == nullptr) {
      Status status = StartServer(*server);
      if (!status.ok()) spdlog::error("{}", status.message());
    }
  }
}

Status PluginManager::StartServer(Server& server) {
  // The kubelet reconnects to the new server; the old server's streams end now rather than at
  // its shutdown deadline.
  server.service->EndStreams();
  {
    std::lock_guard<std::mutex> lock(servers_mutex_);
    server.registered = false;
    server.server.reset();
  }
  server.socket_path = NextSocketPath(server.resource);
  Result<std::unique_ptr<UnixSocketServer>> started =
      UnixSocketServer::Start(server.socket_path, server.service.get());
  if (!started.ok()) return started.status();
  std::lock_guard<std::mutex> lock(servers_mutex_);
  server.server = std::move(*started);
  server.backoff = std::chrono::milliseconds(0);
  server.next_attempt = clock_.Now();
  spdlog::info("{}: serving on {}", server.resource, server.socket_path);
  return Status::Ok();
}

void PluginManager::TryRegister(Server& server) {
  RegistrationRequest request;
  request.kubelet_socket = config_->device_plugin_dir + "/" + options_.kubelet_socket_name;
  request.endpoint = BaseName(server.socket_path);
  request.resource_name = server.resource;
  Status status = RegisterWithKubelet(request);
  std::lock_guard<std::mutex> lock(servers_mutex_);
  if (status.ok()) {
    server.registered = true;
    server.registered_with = KubeletInstance(request.kubelet_socket);
    server.backoff = std::chrono::milliseconds(0);
    metrics_.Increment(kMetricRegistrations, {{"resource", server.resource}, {"result", "success"}});
    spdlog::info("{}: registered with the kubelet", server.resource);
    return;
  }
  metrics_.Increment(kMetricRegistrations, {{"resource", server.resource}, {"result", "failure"}});
  server.backoff = server.backoff.count() == 0
                       ? options_.register_backoff_initial
                       : std::min(server.backoff * 2, options_.register_backoff_max);
  server.next_attempt = clock_.Now() + server.backoff;
  spdlog::warn("{}: {} (retrying in {} ms)", server.resource, status.message(),
               server.backoff.count());
}

void PluginManager::HandleInotify() {
  alignas(inotify_event) char buffer[4096];
  bool kubelet_restarted = false;
  bool config_touched = false;
  while (true) {
    const ssize_t length = read(inotify_fd_, buffer, sizeof(buffer));
    if (length <= 0) break;
    for (char* p = buffer; p < buffer + length;) {
      const auto* event = reinterpret_cast<const inotify_event*>(p);
      const std::string name = event->len > 0 ? event->name : "";
      if (event->wd == plugin_dir_watch_ && name == options_.kubelet_socket_name &&
          (event->mask & (IN_CREATE | IN_MOVED_TO)) != 0) {
        kubelet_restarted = true;
      }
      if (event->wd == config_dir_watch_) config_touched = true;
      p += sizeof(inotify_event) + event->len;
    }
  }
  const ino_t kubelet = KubeletInstance(config_->device_plugin_dir + "/" +
                                        options_.kubelet_socket_name);
  if (kubelet_restarted) {
    spdlog::info("kubelet.sock (re)created: registering again");
    next_gc_ = std::max(next_gc_, clock_.Now() + options_.region_grace);
  }
  for (auto& server : servers_) {
    // Deletions are checked against the file system, so the plugin's own socket replacement
    // (which also deletes the file) does not start a loop.
    if (server->server != nullptr && !Exists(server->socket_path)) {
      spdlog::warn("{}: socket {} was deleted, serving it again", server->resource,
                   server->socket_path);
      Status status = StartServer(*server);
      if (!status.ok()) spdlog::error("{}", status.message());
    } else if (kubelet_restarted && !(server->registered && server->registered_with == kubelet)) {
      std::lock_guard<std::mutex> lock(servers_mutex_);
      server->registered = false;
      server->backoff = std::chrono::milliseconds(0);
      server->next_attempt = clock_.Now();
    }
  }
  if (config_touched && !options_.config_path.empty()) {
    Result<std::string> text = io::ReadFile(active_config_path_);
    if (text.ok() && *text != config_text_) file_changed_ = true;
    if (rejected_node_config_) {
      Result<std::string> wanted = io::ReadFile(rejected_node_config_->path);
      if (wanted.ok() && *wanted != rejected_node_config_->text) rejected_file_changed_ = true;
    }
  }
}

Status PluginManager::Reload(bool force) {
  Result<std::string> text = io::ReadFile(active_config_path_);
  if (!text.ok()) return text.status();
  if (!force && *text == config_text_) {
    metrics_.Increment(kMetricConfigReloads, {{"result", "unchanged"}});
    return Status::Ok();
  }
  config_text_ = *text;
  return ApplyConfigText(active_config_path_, *text);
}

Status PluginManager::ApplyConfigText(const std::string& path, const std::string& text) {
  Result<core::Config> config = core::ParseConfig(text, path);
  Status status = config.status();
  if (config.ok()) {
    if (options_.config_overrides) options_.config_overrides(*config);
    status = ApplyConfig(std::move(*config));
  }
  metrics_.Increment(kMetricConfigReloads, {{"result", status.ok() ? "applied" : "rejected"}});
  return status;
}

void PluginManager::ApplyNodeConfigSelection() {
  std::optional<std::optional<std::string>> request;
  {
    std::lock_guard<std::mutex> lock(node_config_mutex_);
    request.swap(node_config_request_);
  }
  if (!request || options_.config_path.empty()) return;
  // The label names something else now: a config rejected earlier is no longer wanted.
  rejected_node_config_.reset();
  const std::optional<std::string>& name = *request;
  metrics_.Clear(kMetricNodeConfigUnknown);
  const std::string path =
      name ? NodeConfigPath(options_.config_path, *name) : options_.config_path;
  if (name && (!IsNodeConfigName(*name) || !Exists(path))) {
    spdlog::error(
        "the node's label names config \"{}\", which this release does not have (no "
        "{}; nodeConfigs in the chart's values): still serving {}",
        *name, path, active_config_path_);
    metrics_.Set(kMetricNodeConfigUnknown, {{"name", *name}}, 1);
    return;
  }
  if (path == active_config_path_) return;
  SwitchNodeConfig(name, path);
}

void PluginManager::SwitchNodeConfig(const std::optional<std::string>& name,
                                     const std::string& path) {
  spdlog::info("the node's label selects {} config: serving {}",
               name ? "per-node \"" + *name + "\"" : std::string("the default"), path);
  Result<std::string> text = io::ReadFile(path);
  Status status = text.ok() ? ApplyConfigText(path, *text) : text.status();
  if (!status.ok()) {
    // Nothing of the rejected file was applied, so the file watched and the name published
    // stay those of the config the node still serves.
    spdlog::error("config {} rejected, still serving {}: {}", path, active_config_path_,
                  status.message());
    rejected_node_config_ = RejectedNodeConfig{name, path, text.ok() ? *text : std::string()};
    return;
  }
  active_config_path_ = path;
  config_text_ = *text;
  rejected_node_config_.reset();
  metrics_.Clear(kMetricNodeConfig);
  metrics_.Set(kMetricNodeConfig, {{"name", name.value_or("default")}}, 1);
}

void PluginManager::CollectGarbage() {
  Result<std::vector<LiveAllocation>> live =
      ListLiveAllocations(options_.pod_resources_socket, std::chrono::seconds(5));
  if (!live.ok()) {
    spdlog::debug("region cleanup skipped: {}", live.status().message());
    return;
  }
  Result<int> removed = state_.Get().regions->CollectGarbage(*live);
  if (!removed.ok()) {
    spdlog::warn("region cleanup: {}", removed.status().message());
  } else if (*removed > 0) {
    metrics_.Increment(kMetricRegionsRemoved, {}, *removed);
    spdlog::info("removed {} region directories of finished allocations", *removed);
  }
}

void PluginManager::SampleComputeUsage() {
  std::vector<std::string> uuids;
  if (const std::shared_ptr<const Inventory> inventory = state_.Get().inventory) {
    for (const SlicedGpu& sliced : inventory->gpus()) uuids.push_back(sliced.gpu.uuid);
  }
  compute_usage_.Sample(uuids);
}

std::string PluginManager::RenderContainerMetrics() const {
  const std::shared_ptr<RegionStore> regions = state_.Get().regions;
  if (regions == nullptr) return plugin::RenderContainerMetrics({});
  // Listed at each scrape, so a container's series come with its first scrape and go with
  // the pod; a kubelet that does not answer leaves them out rather than name them wrongly.
  Result<std::vector<LiveAllocation>> live =
      ListLiveAllocations(options_.pod_resources_socket, kContainerMetricsListTimeout);
  if (!live.ok()) {
    spdlog::debug("container metrics left out: {}", live.status().message());
    return plugin::RenderContainerMetrics({});
  }
  return plugin::RenderContainerMetrics(
      CollectContainerUsage(regions->Records(), *live, &compute_usage_));
}

bool PluginManager::SomeReslicePendingGpuIsFree() const {
  Result<std::vector<LiveAllocation>> live =
      ListLiveAllocations(options_.pod_resources_socket, std::chrono::seconds(5));
  if (!live.ok()) return false;  // ApplyConfig would count every recorded allocation as live
  const std::set<std::string> busy = GpusOf(*live);
  return std::any_of(reslice_pending_.begin(), reslice_pending_.end(),
                     [&](const std::string& uuid) { return busy.count(uuid) == 0; });
}

void PluginManager::PublishHealth() {
  // Both the health monitor and the control loop publish; reading the tracker and publishing
  // must not interleave, or an older reading could replace a newer one.
  std::lock_guard<std::mutex> lock(publish_mutex_);
  std::map<std::string, std::string> unhealthy = tracker_.Unhealthy();
  const PluginSnapshot snapshot = state_.Get();
  metrics_.Clear(kMetricGpuHealthy);
  if (snapshot.inventory != nullptr) {
    for (const SlicedGpu& sliced : snapshot.inventory->gpus()) {
      metrics_.Set(kMetricGpuHealthy,
                   {{"gpu", sliced.gpu.uuid}, {"index", std::to_string(sliced.gpu.index)}},
                   unhealthy.count(sliced.gpu.uuid) > 0 ? 0 : 1);
    }
  }
  state_.SetUnhealthy(std::move(unhealthy));
}

std::chrono::milliseconds PluginManager::TimeUntilNextWork() const {
  const auto now = clock_.Now();
  auto next = next_gc_;
  if (!reslice_pending_.empty()) next = std::min(next, next_reslice_check_);
  next = std::min(next, next_compute_sample_);
  for (const auto& server : servers_) {
    if (server->server != nullptr && !server->registered) next = std::min(next, server->next_attempt);
  }
  const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next - now);
  return std::clamp(wait, std::chrono::milliseconds(0), std::chrono::milliseconds(1000));
}

void PluginManager::Run() {
  while (!stop_) {
    pollfd fds[2] = {{inotify_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    const int ready = poll(fds, 2, static_cast<int>(TimeUntilNextWork().count()));
    if (stop_) break;
    if (ready > 0 && (fds[1].revents & POLLIN) != 0) {
      uint64_t drained = 0;
      while (read(wake_fd_, &drained, sizeof(drained)) > 0) {
      }
    }
    if (ready > 0 && (fds[0].revents & POLLIN) != 0) HandleInotify();
    ApplyNodeConfigSelection();
    if (rejected_file_changed_ && rejected_node_config_) {
      const RejectedNodeConfig wanted = *rejected_node_config_;
      SwitchNodeConfig(wanted.name, wanted.path);
    }
    rejected_file_changed_ = false;
    const bool forced = reload_requested_.exchange(false);
    if (forced || file_changed_) {
      file_changed_ = false;
      Status status = Reload(forced);
      if (status.ok()) {
        spdlog::info("config {} applied", active_config_path_);
      } else {
        spdlog::error("config reload rejected, still serving the previous config: {}",
                      status.message());
      }
    }
    const auto now = clock_.Now();
    for (auto& server : servers_) {
      if (server->server != nullptr && !server->registered && now >= server->next_attempt) {
        TryRegister(*server);
      }
    }
    if (now >= next_gc_) {
      next_gc_ = now + options_.gc_interval;
      CollectGarbage();
    }
    if (now >= next_compute_sample_) {
      next_compute_sample_ = now + options_.compute_sample_interval;
      SampleComputeUsage();
    }
    if (!reslice_pending_.empty() && now >= next_reslice_check_) {
      next_reslice_check_ = now + options_.reslice_check_interval;
      if (SomeReslicePendingGpuIsFree()) {
        // Applies the requested config again: GPUs whose containers are gone take it now.
        Status status = ApplyConfig(*config_);
        if (!status.ok()) spdlog::error("re-applying the config: {}", status.message());
      }
    }
  }
  spdlog::info("stopping: ending ListAndWatch streams and removing sockets");
  monitor_->Stop();
  std::lock_guard<std::mutex> lock(servers_mutex_);
  for (auto& server : servers_) {
    server->service->Stop();
    server->server.reset();
    server->registered = false;
  }
}

void PluginManager::Wake() {
  if (wake_fd_ < 0) return;
  const uint64_t one = 1;
  [[maybe_unused]] const ssize_t written = write(wake_fd_, &one, sizeof(one));
}

void PluginManager::Stop() {
  stop_ = true;
  Wake();
}

void PluginManager::RequestReload() {
  reload_requested_ = true;
  Wake();
}

void PluginManager::SelectNodeConfig(std::optional<std::string> name) {
  {
    std::lock_guard<std::mutex> lock(node_config_mutex_);
    node_config_request_ = std::move(name);
  }
  Wake();
}

std::vector<ResourceStatus> PluginManager::Resources() const {
  const PluginSnapshot snapshot = state_.Get();
  std::lock_guard<std::mutex> lock(servers_mutex_);
  std::vector<ResourceStatus> out;
  for (const auto& server : servers_) {
    ResourceStatus status;
    status.resource = server->resource;
    status.socket_path = server->socket_path;
    status.serving = server->server != nullptr;
    status.registered = server->registered;
    const v1beta1::ListAndWatchResponse devices = BuildDeviceList(snapshot, server->resource);
    status.devices = devices.devices_size();
    for (const auto& device : devices.devices()) {
      status.healthy_devices += device.health() == "Healthy" ? 1 : 0;
    }
    out.push_back(std::move(status));
  }
  return out;
}

}  // namespace gpuslice::plugin
