// The device plugin's configuration, version v1: slicing profiles and the plugin's global
// settings, parsed from YAML with errors that name the file, line, field and value.
//
//   version: v1
//   devicePluginDir: /var/lib/kubelet/device-plugins
//   allocationPolicy: packed            # packed | spread
//   health: {enabled: true, ignoredXids: [74], resetRequiredXids: [92], recoveryWindow: 5m}
//   library: {hostDir: /var/lib/gpuslice/lib}
//   regionsDir: /var/lib/gpuslice/regions
//   deviceListStrategy: envvar          # or cdi-cri, cdi-annotations, or a list of them
//   passDeviceSpecs: false              # also list /dev/nvidia* in Allocate (static CPUManager)
//   defaultProfile: {slices: 1, resourceName: nvidia.com/gpu}
//   profiles:
//   - name: h100-quarters
//     match: {models: ["*H100*"]}       # or indices: [0, 1], or uuids: [GPU-...]
//     slices: 4
//     reservedMemory: 1Gi
//     resourceName: nvidia.com/gpu
//     enforceCompute: true
//     injection: preload                # preload | env
//     allowDisable: false               # may GPUSLICE_DISABLE=1 switch enforcement off?
//     distinctGpus: false               # k slices of a container on k different GPUs
//   dra:                                # gpuslice-device-plugin --mode=dra only
//     memory: {default: 1Gi, min: 256Mi, step: 256Mi}
//     compute: {default: 0}             # 0: a claim naming no compute is not throttled
//     requireMemory: true
//     nvidiaDriver: env                 # env | cdi
//     cdiDir: /var/run/cdi
//     kubeletPluginsDir: /var/lib/kubelet/plugins
//     kubeletRegistryDir: /var/lib/kubelet/plugins_registry
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "core/gpu.h"
#include "core/slicing.h"
#include "core/status.h"

namespace gpuslice::core {

inline constexpr std::string_view kConfigVersion = "v1";

enum class AllocationPolicy {
  kPacked,  // fill GPUs that already have slices in use first: whole GPUs stay free
  kSpread,  // prefer the least used GPUs: neighbours compete less for compute
};

// How Allocate tells the container runtime which GPUs a container gets (NVIDIA's device
// plugin's deviceListStrategy, same names). gpuslice's own environment and mounts reach the
// container with every strategy.
enum class DeviceListStrategy {
  kEnvvar,          // NVIDIA_VISIBLE_DEVICES=<uuids>, for the NVIDIA container runtime (legacy)
  kCdiCri,          // the CDI devices field of the Allocate response: nvidia.com/gpu=<uuid>
  kCdiAnnotations,  // the same CDI device names in cdi.k8s.io/ annotations
};

// The config's spelling of `strategy`: "envvar", "cdi-cri", "cdi-annotations".
std::string_view DeviceListStrategyName(DeviceListStrategy strategy);

struct HealthConfig {
  bool enabled = true;
  // Added to the XIDs NVIDIA documents as application errors, which never mark a GPU
  // unhealthy: 13, 31, 43, 45, 68, 109.
  std::vector<int> extra_ignored_xids;
  // Added to the XIDs after which NVIDIA says a GPU needs a reset: 48, 63, 64, 74, 79, 95, 119,
  // 120. A GPU marked by one of these never recovers on its own: reset it, then restart the
  // plugin.
  std::vector<int> extra_reset_required_xids;
  // A GPU marked unhealthy becomes healthy again after this long without a critical XID,
  // provided NVML still answers for it. Zero: never recover.
  std::chrono::seconds recovery_window{std::chrono::minutes(5)};
};

// How containers on real GPUs get NVIDIA's driver (device nodes, libraries) beside gpuslice's
// contract, in DRA mode.
enum class NvidiaDriverInjection {
  kEnv,  // NVIDIA_VISIBLE_DEVICES for the NVIDIA container runtime (legacy mode)
  kCdi,  // NVIDIA's own CDI device nvidia.com/gpu=<uuid> (the toolkit's CDI specs)
};

// DRA mode: the request policies of the capacities every GPU publishes, and where the kubelet
// and the container runtime look for the driver's sockets and CDI specs.
struct DraConfig {
  // Memory a claim consumes (requestPolicy of capacity `memory`): a claim naming less than
  // `memory_min` gets the minimum; amounts round up to min + k*step. The largest is each GPU's
  // memory less its profile's reservedMemory, rounded down to a step.
  uint64_t memory_default_bytes = 1ULL << 30;
  uint64_t memory_min_bytes = 256ULL << 20;
  uint64_t memory_step_bytes = 256ULL << 20;
  // Compute a claim naming none consumes; 0 books no share and leaves the claim unthrottled.
  int compute_default_percent = 0;
  // A claim must name its memory: one relying on the default gets an error on its pod.
  bool require_memory = true;
  NvidiaDriverInjection nvidia_driver = NvidiaDriverInjection::kEnv;
  std::string cdi_dir = "/var/run/cdi";
  std::string kubelet_plugins_dir = "/var/lib/kubelet/plugins";
  std::string kubelet_registry_dir = "/var/lib/kubelet/plugins_registry";
};

struct Config {
  std::string device_plugin_dir = "/var/lib/kubelet/device-plugins";
  AllocationPolicy allocation_policy = AllocationPolicy::kPacked;
  HealthConfig health;
  // Host directory holding libgpuslice.so (installed by the chart's init container) and the
  // ld.so.preload file naming it, both mounted read-only into containers.
  std::string library_host_dir = "/var/lib/gpuslice/lib";
  // Host directory under which each allocation gets its own region directory.
  std::string regions_host_dir = "/var/lib/gpuslice/regions";
  // One or more, each at most once. Any CDI strategy without kEnvvar sets
  // NVIDIA_VISIBLE_DEVICES=void, so an image's own NVIDIA_VISIBLE_DEVICES=all cannot make the
  // NVIDIA runtime add every GPU of the node.
  std::vector<DeviceListStrategy> device_list_strategies = {DeviceListStrategy::kEnvvar};
  // Also answer Allocate with the GPUs' device nodes (/dev/nvidia<minor> and the control
  // devices that exist), so containers of nodes with the static CPU manager policy keep their
  // GPUs when the kubelet recreates them.
  bool pass_device_specs = false;
  SlicingProfile default_profile;
  std::vector<SlicingProfile> profiles;
  DraConfig dra;

  bool UsesStrategy(DeviceListStrategy strategy) const;
};

// The XIDs that never mark a GPU unhealthy unless configured otherwise.
const std::vector<int>& DefaultIgnoredXids();

// The XIDs after which a GPU stays unhealthy until it has been reset.
const std::vector<int>& DefaultResetRequiredXids();

// Parses a v1 config document. `file_name` only labels error messages
// ("<file>:<line>:<column>: <field path>: <problem>"). Unknown fields, a missing or other
// version, and invalid values are InvalidArgument.
Result<Config> ParseConfig(std::string_view yaml_text, std::string_view file_name);

// Checks the cross-field rules ParseConfig also applies; for configs built in code.
Status ValidateConfig(const Config& config);

// The DRA part of ValidateConfig: the memory policy's default on its min + k*step grid, the
// compute default in 0-100, absolute directories.
Status ValidateDraConfig(const DraConfig& dra);

// Serializes `config` as a v1 document that ParseConfig reads back to an equal Config.
std::string FormatConfig(const Config& config);

// For each GPU (same order), the profile that applies: the one profile whose selector matches
// it, or the default profile. Returns InvalidArgument naming the GPU and both profiles when
// two profiles match the same GPU. The pointers point into `config`.
Result<std::vector<const SlicingProfile*>> AssignProfiles(const Config& config,
                                                          const std::vector<GpuInfo>& gpus);

}  // namespace gpuslice::core
