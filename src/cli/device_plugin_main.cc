// gpuslice-device-plugin: the node agent. Reads the config (flags > environment > file, the
// file a per-node config where the node's label names one), loads NVML (or the simulated NVML;
// waiting for the driver when asked to), and runs until SIGTERM either the device plugin (SIGHUP
// reloads) or, with --mode=dra, the DRA driver gpu.gpuslice.io. One binary for both: the same
// GPU discovery, health, simulated GPUs and Allocate contract, in the same image and chart.
#include <malloc.h>
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <thread>

#include "cli/command.h"
#include "cli/paths.h"
#include "core/config.h"
#include "core/duration.h"
#include "dra/driver.h"
#include "gpu/nvml_backend.h"
#include "io/file.h"
#include "kubeapi/client.h"
#include "plugin/http_endpoint.h"
#include "plugin/node_labels.h"
#include "plugin/plugin_manager.h"
#include "sim/environment.h"

namespace {

using namespace gpuslice;

struct Flags {
  std::string mode = "devicePlugin";
  std::string kubeconfig;
  std::string config_path;
  std::string device_plugin_dir;
  std::string allocation_policy;
  std::string nvml_library = "libnvidia-ml.so.1";
  std::string simulate;
  std::string simulate_state;
  std::string pod_resources_socket = "/var/lib/kubelet/pod-resources/kubelet.sock";
  std::string metrics_address = ":9410";
  std::string log_level = "info";
  std::string region_cleanup_grace = "2m";
  std::string region_cleanup_confirmation = "1m";
  std::string region_cleanup_interval = "1m";
  std::string node_name;
  std::string node_config_label = "gpuslice.io/config";
  std::string node_config_interval = "10s";
  std::string cdi_spec_dir;
  std::string nvidia_driver_root;
  std::string nvidia_driver_root_host;
  bool fail_on_init_error = true;
};

// How long the agent waits between tries while the NVIDIA driver is not there.
constexpr std::chrono::seconds kDriverRetry{10};

// Sleeps `duration` unless SIGTERM or SIGINT arrives first (they are blocked, see main).
// Returns whether one did.
bool StopSignalWithin(std::chrono::seconds duration) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  const timespec timeout{static_cast<time_t>(duration.count()), 0};
  return sigtimedwait(&set, nullptr, &timeout) > 0;
}

// Parses a flag that holds a delay: a duration of at least a second, such as "30s".
Result<std::chrono::milliseconds> ParseDelayFlag(std::string_view flag, std::string_view text) {
  Result<std::chrono::milliseconds> delay = core::ParseDuration(text);
  if (!delay.ok()) return delay.status().WithContext(std::string(flag));
  if (*delay < std::chrono::seconds(1)) {
    return Status::InvalidArgument(std::string(flag) + ": '" + std::string(text) +
                                   "' must be at least 1s");
  }
  return delay;
}

// One state file per user and spec: runs with the same spec share their simulated GPUs (XIDs
// injected from another shell, CUDA clients), and a different spec never reuses a stale file.
std::string DefaultSimulationState(const std::string& spec) {
  uint64_t hash = 14695981039346656037ULL;  // FNV-1a: stable across builds, unlike std::hash
  for (unsigned char c : spec) hash = (hash ^ c) * 1099511628211ULL;
  char suffix[17];
  std::snprintf(suffix, sizeof(suffix), "%016llx", static_cast<unsigned long long>(hash));
  const char* tmp = std::getenv("TMPDIR");
  return std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/gpuslice-sim-" +
         std::to_string(getuid()) + "-" + suffix + ".state";
}

Result<core::Config> LoadConfig(const std::string& path) {
  if (path.empty()) return core::Config{};
  Result<std::string> text = io::ReadFile(path);
  if (!text.ok()) return text.status();
  return core::ParseConfig(*text, path);
}

// The per-node config the node's label names when the agent starts, if it names one this
// release has: the node then never advertises the default config's slices first. Reading the
// label is retried briefly; without an answer the node starts on the default config and the
// watcher switches it once the API server answers.
// The pod's service account, for reading its Node's labels. One attempt per read: the label
// watcher and InitialNodeConfig retry at their own pace.
Result<std::unique_ptr<kubeapi::Client>> NodeLabelClient() {
  Result<kubeapi::ClusterConfig> config = kubeapi::LoadInCluster();
  if (!config.ok()) {
    return Status(config.status().code(),
                  "per-node configs need the agent's pod and its service account: " +
                      config.status().message());
  }
  kubeapi::ClientOptions options;
  options.max_attempts = 1;
  options.request_timeout = std::chrono::seconds(10);
  options.user_agent = "gpuslice-device-plugin";
  return kubeapi::Client::Create(std::move(*config), options);
}

std::optional<std::string> InitialNodeConfig(const Flags& flags,
                                             const plugin::NodeLabelReader& read) {
  for (int attempt = 1;; ++attempt) {
    Result<std::map<std::string, std::string>> labels = read();
    if (labels.ok()) {
      const auto it = labels->find(flags.node_config_label);
      if (it == labels->end()) return std::nullopt;
      const std::string path = plugin::NodeConfigPath(flags.config_path, it->second);
      if (access(path.c_str(), R_OK) != 0) {
        // In device plugin mode the label watcher reports it, with its metric, and keeps
        // looking; DRA mode reads the label once, so this is the only word of it.
        if (flags.mode == "dra") {
          spdlog::error("node {}: label {}={} names no config of this release ({} is not there): "
                        "serving the default config",
                        flags.node_name, flags.node_config_label, it->second, path);
        }
        return std::nullopt;
      }
      spdlog::info("node {}: label {}={} selects {}", flags.node_name, flags.node_config_label,
                   it->second, path);
      return it->second;
    }
    if (attempt == 3) {
      spdlog::warn("cannot read node {}'s labels ({}): starting on the default config",
                   flags.node_name, labels.status().message());
      return std::nullopt;
    }
    if (StopSignalWithin(std::chrono::seconds(2))) return std::nullopt;
  }
}

// Loads NVML, from the driver root when one is given. With failOnInitError false, a driver
// that is not there yet (a driver container still starting) is waited for, without advertising
// anything; nullptr when a stop signal ends the wait.
Result<std::unique_ptr<gpu::NvmlBackend>> LoadNvml(const Flags& flags,
                                                   gpu::NvmlBackendOptions options) {
  std::string last_error;
  while (true) {
    Result<std::unique_ptr<gpu::NvmlBackend>> backend =
        [&]() -> Result<std::unique_ptr<gpu::NvmlBackend>> {
      if (!flags.nvidia_driver_root.empty() && flags.simulate.empty()) {
        Result<std::string> library =
            gpu::FindDriverLibrary(flags.nvidia_driver_root, "libnvidia-ml.so.1");
        if (!library.ok()) return library.status();
        options.library = *library;
      }
      return gpu::NvmlBackend::Create(options);
    }();
    if (backend.ok() || flags.fail_on_init_error) return backend;
    if (backend.status().message() != last_error) {
      last_error = backend.status().message();
      spdlog::error(
          "{}: waiting for the NVIDIA driver (failOnInitError is false), trying every "
          "{} s",
          last_error, kDriverRetry.count());
    }
    if (StopSignalWithin(kDriverRetry)) return std::unique_ptr<gpu::NvmlBackend>();
  }
}

// Blocks SIGTERM, SIGINT and SIGHUP's delivery to this thread until one arrives; returns it.
int WaitForSignal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  int signal = 0;
  while (sigwait(&set, &signal) != 0) {
  }
  return signal;
}

int RunDra(const Flags& flags, core::Config config, gpu::GpuBackend& backend,
           const std::optional<plugin::SimulatedDriver>& simulated,
           plugin::MetricsRegistry& metrics, std::atomic<const plugin::ServedAgent*>& serving,
           std::unique_ptr<plugin::HttpEndpoint>& http) {
  Result<kubeapi::ClusterConfig> cluster = kubeapi::LoadDefault(flags.kubeconfig);
  if (!cluster.ok()) {
    spdlog::critical("--mode=dra needs the API server: {}", cluster.status().message());
    return cli::kExitUsage;
  }
  kubeapi::ClientOptions client_options;
  client_options.user_agent = "gpuslice-dra/" GPUSLICE_VERSION;
  Result<std::unique_ptr<kubeapi::Client>> client =
      kubeapi::Client::Create(*cluster, client_options);
  if (!client.ok()) {
    spdlog::critical("{}", client.status().message());
    return cli::kExitUsage;
  }
  spdlog::info("API server {} ({})", (*client)->config().server, (*client)->config().source);
  dra::DriverOptions options;
  options.node_name = flags.node_name;
  options.simulated_driver = simulated;
  options.pod_resources_socket = flags.pod_resources_socket;
  dra::Driver driver(options, std::move(config), backend, **client, metrics,
                     core::SystemClock::Get());
  if (Status started = driver.Start(); !started.ok()) {
    spdlog::critical("{}", started.message());
    return started.code() == StatusCode::kInvalidArgument ? cli::kExitUsage : cli::kExitFailure;
  }
  serving = &driver;
  std::thread signals([&driver] {
    while (true) {
      const int signal = WaitForSignal();
      if (signal == SIGHUP) {
        spdlog::warn("SIGHUP: the DRA driver reads its config at start only; restart the pod "
                     "to apply a new one");
        continue;
      }
      spdlog::info("signal {}: shutting down (the ResourceSlice and prepared claims stay)",
                   signal);
      driver.Stop();
      return;
    }
  });
  driver.Run();
  signals.join();
  serving = nullptr;
  http.reset();  // before the driver it reports on goes
  return cli::kExitOk;
}

bool ServesMetrics(const Flags& flags) {
  return !flags.metrics_address.empty() && flags.metrics_address != "off";
}

int Run(const Flags& flags, const std::function<void(core::Config&)>& overrides) {
  if (ServesMetrics(flags)) {
    if (Result<plugin::HttpAddress> address = plugin::ParseHttpAddress(flags.metrics_address);
        !address.ok()) {
      spdlog::critical("--metrics-address: {}", address.status().message());
      return cli::kExitUsage;
    }
  }
  plugin::NodeLabelReader read_labels;
  std::optional<std::string> node_config;
  const bool dra = flags.mode == "dra";
  // With --mode=dra, --node-name names the driver's pool too: per-node configs then apply where
  // there is a config file and a service account to read the Node with (not out of cluster).
  if (!flags.node_name.empty() && !(dra && flags.config_path.empty())) {
    if (flags.config_path.empty()) {
      spdlog::critical("--node-name selects per-node configs beside --config, which is not set");
      return cli::kExitUsage;
    }
    Result<std::unique_ptr<kubeapi::Client>> client = NodeLabelClient();
    if (client.ok()) {
      read_labels = [client = std::shared_ptr<kubeapi::Client>(std::move(*client)),
                     node = flags.node_name] { return plugin::ReadNodeLabels(*client, node); };
      node_config = InitialNodeConfig(flags, read_labels);
    } else if (dra) {
      spdlog::info("no per-node config: {}", client.status().message());
    } else {
      spdlog::critical("--node-name: {}", client.status().message());
      return cli::kExitUsage;
    }
  }
  Result<std::chrono::milliseconds> label_interval =
      ParseDelayFlag("--node-config-interval", flags.node_config_interval);
  if (!label_interval.ok()) {
    spdlog::critical("{}", label_interval.status().message());
    return cli::kExitUsage;
  }
  Result<core::Config> config = LoadConfig(
      node_config ? plugin::NodeConfigPath(flags.config_path, *node_config) : flags.config_path);
  if (!config.ok()) {
    spdlog::critical("invalid config: {}", config.status().message());
    return cli::kExitUsage;
  }
  overrides(*config);
  if (Status valid = core::ValidateConfig(*config); !valid.ok()) {
    spdlog::critical("invalid config: {}", valid.message());
    return cli::kExitUsage;
  }

  gpu::NvmlBackendOptions nvml;
  nvml.library = flags.nvml_library;
  std::optional<plugin::SimulatedDriver> simulated;
  if (!flags.simulate.empty()) {
    std::string state = flags.simulate_state;
    if (state.empty()) state = DefaultSimulationState(flags.simulate);
    // Created here, where a spec file can be read: the simulated NVML reads spec strings only.
    Result<sim::OpenedState> opened = sim::OpenOrCreateState(state, flags.simulate);
    if (!opened.ok()) {
      spdlog::critical("--simulate: {}", opened.status().message());
      return cli::kExitUsage;
    }
    if (!opened->warning.empty()) spdlog::warn("{}", opened->warning);
    // Containers get this file too, and their processes may run as any user.
    if (chmod(state.c_str(), 0666) != 0) {
      spdlog::warn("cannot make {} writable for containers: {}", state, std::strerror(errno));
    }
    setenv("GPUSLICE_SIM_SPEC", flags.simulate.c_str(), 1);
    setenv("GPUSLICE_SIM_STATE", state.c_str(), 1);
    simulated = plugin::SimulatedDriver{state, flags.cdi_spec_dir};
    nvml.library = cli::SiblingLibDir() + "/libgpuslice-sim-nvml.so";
    spdlog::info(
        "simulated GPUs \"{}\", shared state {} (inject XIDs with: gpuslice sim xid "
        "--state {} --gpu 0 --xid 79)",
        flags.simulate, state, state);
  }
  plugin::MetricsRegistry metrics;
  // Up before NVML, so the liveness probe finds a waiting agent healthy.
  std::atomic<const plugin::ServedAgent*> serving{nullptr};
  std::unique_ptr<plugin::HttpEndpoint> http;
  if (ServesMetrics(flags)) {
    Result<std::unique_ptr<plugin::HttpEndpoint>> endpoint = plugin::HttpEndpoint::Start(
        flags.metrics_address, metrics,
        [&serving] { return serving.load(); });
    if (!endpoint.ok()) {
      spdlog::critical("{}", endpoint.status().message());
      return cli::kExitFailure;
    }
    http = std::move(*endpoint);
    spdlog::info("metrics and health on port {} (/metrics, /healthz)", http->port());
  }
  Result<std::unique_ptr<gpu::NvmlBackend>> backend = LoadNvml(flags, nvml);
  if (!backend.ok()) {
    spdlog::critical("{}", backend.status().message());
    return cli::kExitFailure;
  }
  if (*backend == nullptr) return cli::kExitOk;  // stopped while waiting for the driver
  if (flags.mode == "dra") {
    return RunDra(flags, *config, **backend, simulated, metrics, serving, http);
  }

  plugin::PluginManagerOptions options;
  Result<std::chrono::milliseconds> grace =
      ParseDelayFlag("--region-cleanup-grace", flags.region_cleanup_grace);
  Result<std::chrono::milliseconds> confirmation =
      ParseDelayFlag("--region-cleanup-confirmation", flags.region_cleanup_confirmation);
  Result<std::chrono::milliseconds> interval =
      ParseDelayFlag("--region-cleanup-interval", flags.region_cleanup_interval);
  for (const Status& status : {grace.status(), confirmation.status(), interval.status()}) {
    if (!status.ok()) {
      spdlog::critical("{}", status.message());
      return cli::kExitUsage;
    }
  }
  options.region_grace = std::chrono::duration_cast<std::chrono::seconds>(*grace);
  options.region_confirmation = *confirmation;
  options.gc_interval = *interval;
  options.config_path = flags.config_path;
  options.config_overrides = overrides;
  options.pod_resources_socket = flags.pod_resources_socket;
  options.simulated_driver = simulated;
  options.node_config = node_config;
  if (!flags.nvidia_driver_root.empty()) {
    options.driver_root.view = flags.nvidia_driver_root;
    options.driver_root.host = flags.nvidia_driver_root;
  }
  if (!flags.nvidia_driver_root_host.empty())
    options.driver_root.host = flags.nvidia_driver_root_host;
  plugin::PluginManager manager(options, *config, **backend, metrics, core::SystemClock::Get());
  if (Status started = manager.Start(); !started.ok()) {
    spdlog::critical("{}", started.message());
    return started.code() == StatusCode::kInvalidArgument ? cli::kExitUsage : cli::kExitFailure;
  }
  serving = &manager;
  // After the manager, so it stops first: its callback uses the manager.
  std::unique_ptr<plugin::NodeLabelWatcher> watcher;
  if (read_labels) {
    watcher = std::make_unique<plugin::NodeLabelWatcher>(
        plugin::NodeLabelWatcherOptions{flags.node_config_label, *label_interval}, read_labels,
        [&manager](std::optional<std::string> name) { manager.SelectNodeConfig(std::move(name)); });
    watcher->Start();
  }

  // Signals arrive on this thread only (they are blocked everywhere else, see main).
  std::thread signals([&manager] {
    while (true) {
      const int signal = WaitForSignal();
      if (signal == SIGHUP) {
        spdlog::info("SIGHUP: reloading the config");
        manager.RequestReload();
        continue;
      }
      spdlog::info("signal {}: shutting down", signal);
      manager.Stop();
      return;
    }
  });
  // Run() returns only after the signal thread called Stop().
  manager.Run();
  signals.join();
  if (watcher != nullptr) watcher->Stop();
  serving = nullptr;
  http.reset();  // before the manager it reports on goes
  return cli::kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  // A dozen mostly idle threads (gRPC, health, HTTP) would each get their own malloc arena;
  // two keep the daemon's private memory down at no cost to its light allocation load.
  mallopt(M_ARENA_MAX, 2);
  // Block the signals before any thread starts, so only the signal thread receives them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  Flags flags;
  CLI::App app{
      "gpuslice-device-plugin: advertises GPU slices to the kubelet (device plugin API "
      "v1beta1) and sets up each container's memory limit and compute share. Flags beat "
      "environment variables, which beat the config file.",
      "gpuslice-device-plugin"};
  app.set_version_flag("--version", GPUSLICE_VERSION);
  app.add_option("--mode", flags.mode,
                 "devicePlugin: advertise slices to the kubelet's device manager; dra: the DRA "
                 "driver gpu.gpuslice.io (claims sized in memory and compute)")
      ->envname("GPUSLICE_MODE")
      ->check(CLI::IsMember({"devicePlugin", "dra"}))
      ->capture_default_str();
  app.add_option("--kubeconfig", flags.kubeconfig,
                 "Kubeconfig for the API server (--mode=dra; default: the pod's service account, "
                 "then $KUBECONFIG, then ~/.kube/config)")
      ->envname("GPUSLICE_KUBECONFIG");
  app.add_option("--config", flags.config_path,
                 "Config file (YAML, version: v1); reloaded on "
                 "SIGHUP and when it changes")
      ->envname("GPUSLICE_CONFIG");
  app.add_option("--device-plugin-dir", flags.device_plugin_dir,
                 "Kubelet device plugin directory (default /var/lib/kubelet/device-plugins)")
      ->envname("GPUSLICE_DEVICE_PLUGIN_DIR");
  app.add_option("--allocation-policy", flags.allocation_policy,
                 "Preferred allocation: packed or spread")
      ->envname("GPUSLICE_ALLOCATION_POLICY")
      ->check(CLI::IsMember({"packed", "spread"}));
  app.add_option("--nvml-library", flags.nvml_library, "NVML library to dlopen")
      ->envname("GPUSLICE_NVML_LIBRARY")
      ->capture_default_str();
  app.add_option("--simulate", flags.simulate,
                 "Run on simulated GPUs instead of NVML, e.g. 2xH100-80GB,1xT4 or a spec file")
      ->envname("GPUSLICE_SIMULATE");
  app.add_option(
         "--simulate-state", flags.simulate_state,
         "Shared state file of the simulated GPUs (default: one per user and spec in $TMPDIR)")
      ->envname("GPUSLICE_SIMULATE_STATE");
  app.add_option("--pod-resources-socket", flags.pod_resources_socket,
                 "Kubelet PodResources socket: names the containers in /metrics and (device "
                 "plugin mode) finds finished allocations to clean up")
      ->envname("GPUSLICE_POD_RESOURCES_SOCKET")
      ->capture_default_str();
  app.add_option("--metrics-address", flags.metrics_address,
                 "host:port for /metrics and /healthz; off disables them")
      ->envname("GPUSLICE_METRICS_ADDRESS")
      ->capture_default_str();
  app.add_option("--region-cleanup-grace", flags.region_cleanup_grace,
                 "Region cleanup starts this long after the plugin or the kubelet starts, and "
                 "never touches a younger region directory")
      ->envname("GPUSLICE_REGION_CLEANUP_GRACE")
      ->capture_default_str();
  app.add_option("--region-cleanup-confirmation", flags.region_cleanup_confirmation,
                 "A region directory goes only when two pod-resources listings this far apart "
                 "both miss its allocation")
      ->envname("GPUSLICE_REGION_CLEANUP_CONFIRMATION")
      ->capture_default_str();
  app.add_option("--region-cleanup-interval", flags.region_cleanup_interval,
                 "How often the kubelet's pod resources are listed to find finished allocations")
      ->envname("GPUSLICE_REGION_CLEANUP_INTERVAL")
      ->capture_default_str();
  app.add_option("--node-name", flags.node_name,
                 "This node's name: its label --node-config-label picks a per-node config "
                 "(node-NAME.yaml beside --config), switched live when the label changes; with "
                 "--mode=dra also the pool of the node's ResourceSlice")
      ->envname("NODE_NAME");
  app.add_option("--node-config-label", flags.node_config_label,
                 "The node label naming the node's config")
      ->envname("GPUSLICE_NODE_CONFIG_LABEL")
      ->capture_default_str();
  app.add_option("--node-config-interval", flags.node_config_interval,
                 "How often the node's labels are read")
      ->envname("GPUSLICE_NODE_CONFIG_INTERVAL")
      ->capture_default_str();
  app.add_option("--cdi-spec-dir", flags.cdi_spec_dir,
                 "With --simulate: where to write the CDI spec that names the simulated GPUs "
                 "nvidia.com/gpu=<uuid> (a directory the container runtime reads CDI specs from)")
      ->envname("GPUSLICE_CDI_SPEC_DIR");
  app.add_option("--nvidia-driver-root", flags.nvidia_driver_root,
                 "Where the agent sees the NVIDIA driver's root (a driver container's root): NVML "
                 "is loaded from it, and passDeviceSpecs looks for device nodes in its dev/")
      ->envname("GPUSLICE_NVIDIA_DRIVER_ROOT");
  app.add_option("--nvidia-driver-root-host", flags.nvidia_driver_root_host,
                 "The node's path of --nvidia-driver-root, for device nodes handed to the kubelet "
                 "(default: the same path)")
      ->envname("GPUSLICE_NVIDIA_DRIVER_ROOT_HOST");
  app.add_option("--fail-on-init-error", flags.fail_on_init_error,
                 "Exit when NVML cannot be loaded; false: wait for the driver, advertising nothing")
      ->envname("GPUSLICE_FAIL_ON_INIT_ERROR")
      ->capture_default_str();
  app.add_option("--log-level", flags.log_level, "trace, debug, info, warn, error")
      ->envname("GPUSLICE_LOG_LEVEL")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? gpuslice::cli::kExitOk : gpuslice::cli::kExitUsage;
  }

  spdlog::set_default_logger(spdlog::stderr_color_mt("gpuslice"));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  spdlog::set_level(spdlog::level::from_str(flags.log_level));

  auto overrides = [flags](gpuslice::core::Config& config) {
    if (!flags.device_plugin_dir.empty()) config.device_plugin_dir = flags.device_plugin_dir;
    if (!flags.allocation_policy.empty()) {
      config.allocation_policy = flags.allocation_policy == "spread"
                                     ? gpuslice::core::AllocationPolicy::kSpread
                                     : gpuslice::core::AllocationPolicy::kPacked;
    }
  };
  return Run(flags, overrides);
}
