// The device plugin's life cycle: discovers GPUs, serves one gRPC server per resource name,
// registers each with the kubelet and keeps it registered (kubelet restarts, the plugin's own
// socket being deleted, the kubelet not listening yet), applies config reloads without a
// restart, switches to the per-node config a node label names, feeds health changes to
// ListAndWatch, and removes region directories of allocations that no longer exist. GPUs in
// MIG mode are left out; on simulated GPUs it keeps their CDI spec current.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/config.h"
#include "gpu/gpu_backend.h"
#include "plugin/allocator.h"
#include "plugin/compute_usage.h"
#include "plugin/device_plugin_service.h"
#include "plugin/health.h"
#include "plugin/metrics.h"
#include "plugin/plugin_state.h"
#include "plugin/region_store.h"
#include "plugin/served_agent.h"

namespace gpuslice::plugin {

// A per-node config NAME is the file node-NAME.yaml beside the default config file.
inline constexpr std::string_view kNodeConfigFilePrefix = "node-";

// The file of per-node config `name`: "<directory of config_path>/node-<name>.yaml".
std::string NodeConfigPath(const std::string& config_path, std::string_view name);

struct PluginManagerOptions {
  // The config file to reload on SIGHUP and on change; empty: the initial config is fixed. A
  // node whose label names a per-node config (SelectNodeConfig) serves that file instead.
  std::string config_path;
  // Applied to every config read from config_path, so flags and environment beat the file.
  std::function<void(core::Config&)> config_overrides;
  std::string kubelet_socket_name = "kubelet.sock";
  std::string pod_resources_socket = "/var/lib/kubelet/pod-resources/kubelet.sock";
  // Registration retries back off from the first to the second value while no kubelet answers.
  std::chrono::milliseconds register_backoff_initial{100};
  std::chrono::milliseconds register_backoff_max{std::chrono::seconds(5)};
  std::chrono::milliseconds gc_interval{std::chrono::minutes(1)};
  // Region cleanup waits this long after the plugin starts or the kubelet restarts, and never
  // touches a younger directory.
  std::chrono::seconds region_grace{std::chrono::minutes(2)};
  // A region directory goes only when two listings this far apart both miss its allocation.
  std::chrono::milliseconds region_confirmation{std::chrono::minutes(1)};
  // While a GPU keeps an old slicing for its containers, how often to look whether it is free.
  std::chrono::milliseconds reslice_check_interval{std::chrono::seconds(10)};
  // How often the driver's per-process utilization is read for the compute-used series.
  std::chrono::milliseconds compute_sample_interval{std::chrono::seconds(1)};
  HealthMonitorOptions health;
  // Set on nodes with simulated GPUs: containers also get the simulated driver.
  std::optional<SimulatedDriver> simulated_driver;
  // Where the NVIDIA driver is, for passDeviceSpecs.
  DriverRoot driver_root;
  // The per-node config the node starts with (its label's value when the agent started);
  // nullopt: config_path. The initial config handed to the constructor is that file's.
  std::optional<std::string> node_config;
};

class PluginManager : public ServedAgent {
 public:
  PluginManager(PluginManagerOptions options, core::Config config, gpu::GpuBackend& backend,
                MetricsRegistry& metrics, const core::Clock& clock);
  ~PluginManager() override;

  // Discovers the GPUs, builds the inventory, starts the servers and the health monitor.
  // Returns InvalidArgument when the config does not fit the GPUs (nothing is advertised),
  // Unavailable when discovery fails or a socket cannot be served.
  Status Start();

  // Runs the control loop on the calling thread until Stop(). REQUIRES: Start() succeeded.
  void Run();

  // Thread-safe; Run() returns soon after. Ends ListAndWatch streams and removes the sockets.
  void Stop();

  // Thread-safe: asks the control loop to re-read the config file and rediscover the GPUs,
  // even when the file is unchanged (SIGHUP).
  void RequestReload();

  // Thread-safe: asks the control loop to serve per-node config `name` (nullopt: the default
  // config file). A name without a file is logged and counted in gpuslice_node_config_unknown,
  // and the node keeps its current config; busy GPUs keep their slicing until free, as with any
  // reload. A config whose file is rejected is logged and counted in
  // gpuslice_config_reloads_total{result="rejected"}; the node keeps serving, watching and
  // naming its current config, and switches once the rejected file changes and is accepted.
  void SelectNodeConfig(std::optional<std::string> name);

  // The config file served now. Control-loop thread, or before Run().
  const std::string& active_config_path() const { return active_config_path_; }

  // Thread-safe snapshot for /healthz and tests.
  std::vector<ResourceStatus> Resources() const override;

  // Thread-safe: the per-container series (plugin/container_metrics.h) of the containers the
  // kubelet lists now; only the families' HELP and TYPE when it cannot be asked.
  std::string RenderContainerMetrics() const override;

 private:
  struct Server;

  // Re-reads the config file and applies it when it changed, or always when `force`.
  Status Reload(bool force);
  // Parses and applies config file `path`'s content `text`, counting the result.
  Status ApplyConfigText(const std::string& path, const std::string& text);
  // Applies a pending SelectNodeConfig request.
  void ApplyNodeConfigSelection();
  // Serves config file `path` (per-node config `name`, nullopt: the default) once it has been
  // applied; a file that is rejected leaves the node on its current config.
  void SwitchNodeConfig(const std::optional<std::string>& name, const std::string& path);
  Status ApplyConfig(core::Config config);
  void Reconcile();
  Status StartServer(Server& server);
  void TryRegister(Server& server);
  void HandleInotify();
  void CollectGarbage();
  void SampleComputeUsage();
  // Whether the kubelet lists no container on some GPU that keeps an old slicing.
  bool SomeReslicePendingGpuIsFree() const;
  void PublishHealth();
  void Wake();
  std::chrono::milliseconds TimeUntilNextWork() const;
  // A socket path for the next server start of `resource`, never used before.
  std::string NextSocketPath(const std::string& resource);

  PluginManagerOptions options_;
  gpu::GpuBackend& backend_;
  MetricsRegistry& metrics_;
  const core::Clock& clock_;

  PluginState state_;
  HealthTracker tracker_;
  std::unique_ptr<HealthMonitor> monitor_;
  std::shared_ptr<const core::Config> config_;
  std::string config_text_;  // the file content last applied (or rejected)
  std::string active_config_path_;  // config_path or a per-node config; control-loop thread
  // The config the node label names when its file was rejected: tried again when the file
  // changes, until the label names another. Control-loop thread only.
  struct RejectedNodeConfig {
    std::optional<std::string> name;
    std::string path;
    std::string text;  // the content rejected (empty: the file could not be read)
  };
  std::optional<RejectedNodeConfig> rejected_node_config_;
  bool rejected_file_changed_ = false;  // control-loop thread only

  std::mutex node_config_mutex_;  // guards node_config_request_
  std::optional<std::optional<std::string>> node_config_request_;

  mutable std::mutex servers_mutex_;  // guards servers_ for Resources()
  std::vector<std::unique_ptr<Server>> servers_;

  uint64_t socket_generation_ = 0;  // control-loop thread only
  int inotify_fd_ = -1;
  int plugin_dir_watch_ = -1;
  int config_dir_watch_ = -1;
  int wake_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<bool> reload_requested_{false};
  bool file_changed_ = false;  // control-loop thread only
  core::Clock::TimePoint next_gc_;
  core::Clock::TimePoint next_reslice_check_;
  core::Clock::TimePoint next_compute_sample_;
  ComputeUsage compute_usage_;
  // GPUs keeping an old slicing for their containers. Control-loop thread only.
  std::set<std::string> reslice_pending_;
  std::mutex publish_mutex_;      // orders PublishHealth calls
};

}  // namespace gpuslice::plugin
