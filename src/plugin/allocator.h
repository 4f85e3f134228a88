// Allocate's work for one container: check the device IDs, then build the environment and
// mounts of the Allocate contract (core/contract.h; docs/device-plugin.md) and the container's
// allocation directory with its region and limits file, and name the container's GPUs to the
// container runtime the way the config's deviceListStrategy says (plugin/cdi.h).
// ContractBuilder is the one place that turns GPUs and limits into that contract; the device
// plugin's Allocate and the DRA driver's NodePrepareResources both go through it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/contract.h"
#include "core/status.h"
#include "plugin/inventory.h"
#include "plugin/region_store.h"

namespace gpuslice::plugin {

// Host-side names in the library directory (Config::library_host_dir).
inline constexpr std::string_view kLibraryFileName = "libgpuslice.so";
inline constexpr std::string_view kPreloadFileName = "ld.so.preload";

struct MountSpec {
  std::string container_path;
  std::string host_path;
  bool read_only = true;
};

// A device node the runtime creates in the container (the Allocate response's DeviceSpec).
struct DeviceNode {
  std::string container_path;
  std::string host_path;
  std::string permissions = "rw";
};

struct ContainerAllocation {
  std::map<std::string, std::string> envs;
  std::vector<MountSpec> mounts;
  std::vector<std::string> cdi_devices;            // fully qualified names (cdi-cri)
  std::map<std::string, std::string> annotations;  // the same names as annotations
  std::vector<DeviceNode> devices;                 // passDeviceSpecs
  std::string region_dir;  // host path of the allocation's directory
  core::contract::LimitsFile limits;  // what the limits file says
};

// A node on simulated GPUs (--simulate): each container also gets the simulated driver
// libraries where NVIDIA's container toolkit would put the real ones, and the simulated GPUs'
// shared state, so driver-API programs in pods run on them.
// The simulated libcuda.so.1 and libnvidia-ml.so.1 are in `<library dir>/sim/`, where the
// chart's init container installs them.
// With a CDI device list strategy the simulated driver reaches containers through the CDI
// spec the agent writes into `cdi_spec_dir` (plugin/cdi.h), not through Allocate's mounts.
struct SimulatedDriver {
  // Host path of the state file; its directory is mounted, so a replaced file is seen.
  std::string state_host_path;
  // A directory the container runtime reads CDI specs from; empty: CDI is not available.
  std::string cdi_spec_dir;
};

// Where the NVIDIA driver's root is: "/" for a driver installed on the node, the driver
// container's root (the GPU Operator's /run/nvidia/driver) otherwise.
struct DriverRoot {
  std::string view = "/";  // where the agent sees it (control devices are looked for in dev/)
  std::string host = "/";  // the node's path of it, which prefixes device nodes' host paths
};

// How the container runtime learns which GPUs a container gets, beside gpuslice's contract.
struct RuntimeOptions {
  std::vector<core::DeviceListStrategy> strategies = {core::DeviceListStrategy::kEnvvar};
  // Also list the GPUs' device nodes: /dev/nvidia<minor> of each GPU, and of the control
  // devices (nvidiactl, nvidia-uvm, nvidia-uvm-tools, nvidia-modeset) those that exist.
  // Ignored on simulated GPUs, which have no device nodes.
  bool pass_device_specs = false;
  DriverRoot driver_root;
};

// The config's strategies and passDeviceSpecs with the node's driver root.
RuntimeOptions RuntimeOptionsFor(const core::Config& config, const DriverRoot& driver_root);

// Host subdirectory of the library directory holding the simulated driver libraries.
inline constexpr std::string_view kSimulatedDriverDirName = "sim";

// Writes `<library_dir>/ld.so.preload` naming the library's container path, unless it already
// says exactly that. Returns the I/O error naming the file.
Status WritePreloadFile(const std::string& library_dir);

// One GPU of a container's contract and the limits the container gets on it.
struct GpuShare {
  std::string uuid;
  uint64_t memory_bytes = 0;
  int compute_percent = 100;  // 1-100; 100: not throttled
};

// What a contract is built from.
struct ContractRequest {
  std::vector<GpuShare> gpus;  // the container's GPUs, in the order it sees them
  // Recorded in the region directory's allocation.json: what the allocation was made for
  // (a resource name and its device IDs, or the DRA driver's name and a claim's UID), and how
  // each GPU was sliced.
  std::string resource;
  std::vector<std::string> ids;
  std::vector<RecordedSlicing> slicing;
  bool env_injection = false;  // LD_PRELOAD instead of the /etc/ld.so.preload mount
  bool allow_disable = false;  // may GPUSLICE_DISABLE=1 switch enforcement off?
  // NVIDIA_VISIBLE_DEVICES names the GPUs; false sets it to "void" (only CDI names them, and an
  // image's own NVIDIA_VISIBLE_DEVICES=all must not reach an NVIDIA runtime).
  bool visible_devices_env = true;
  // On simulated nodes, mount the simulated driver; false where a CDI spec brings it instead.
  bool simulated_driver_mounts = true;
};

// Turns GPUs and limits into a container's contract: the environment, the allocation directory
// with its region and limits file, and the mounts (library, preload file, region file, limits
// directory, and the simulated driver on simulated nodes).
// Thread-safe when the RegionStore is (it is).
class ContractBuilder {
 public:
  // `simulated` is null on nodes with real GPUs; it must outlive the builder.
  ContractBuilder(std::string library_dir, RegionStore& regions,
                  const SimulatedDriver* simulated = nullptr);

  // Returns the contract; FailedPrecondition when the library (or the simulated driver) is not
  // installed, InvalidArgument for no GPUs, more than a container may be limited on, or limits
  // the limits file cannot hold, or the I/O error of creating the allocation directory.
  // Creates nothing when it fails.
  Result<ContainerAllocation> Build(const ContractRequest& request) const;

  const std::string& library_dir() const { return library_dir_; }

 private:
  std::string library_dir_;
  RegionStore& regions_;
  const SimulatedDriver* simulated_;
};

// Builds container allocations against one inventory snapshot. Thread-safe when the
// RegionStore is (it is).
class Allocator {
 public:
  // `unhealthy` maps the UUID of each unhealthy GPU to why (e.g. "XID 79").
  // `simulated` is null on nodes with real GPUs; it must outlive the allocator.
  Allocator(const Inventory& inventory, std::map<std::string, std::string> unhealthy,
            std::string library_dir, RegionStore& regions,
            const SimulatedDriver* simulated = nullptr, RuntimeOptions runtime = {});

  // Returns the container's allocation; NotFound naming unknown IDs, FailedPrecondition naming
  // IDs on unhealthy GPUs, a missing library, the simulated GPUs' CDI spec missing where a CDI
  // strategy needs it, or slices that share a GPU under a distinctGpus profile;
  // InvalidArgument for an empty or duplicated list, or the I/O error of creating the region
  // directory. Never partially creates state.
  Result<ContainerAllocation> Allocate(std::string_view resource,
                                       const std::vector<std::string>& device_ids) const;

 private:
  const Inventory& inventory_;
  std::map<std::string, std::string> unhealthy_;
  RegionStore& regions_;
  const SimulatedDriver* simulated_;
  RuntimeOptions runtime_;
  ContractBuilder contract_;
};

}  // namespace gpuslice::plugin
