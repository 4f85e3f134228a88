#include "plugin/allocator.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include "core/contract.h"
#include "core/slicing.h"
#include "io/file.h"
#include "plugin/cdi.h"

namespace gpuslice::plugin {
namespace {

std::string Join(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += separator;
    out += items[i];
  }
  return out;
}

constexpr std::string_view kSimulatedDriverLibraries[] = {core::contract::kSimCudaLibraryName,
                                                          core::contract::kSimNvmlLibraryName};

std::string SimulatedLibraryPath(const std::string& library_dir, std::string_view name) {
  return library_dir + "/" + std::string(kSimulatedDriverDirName) + "/" + std::string(name);
}

Status CheckSimulatedDriver(const std::string& library_dir) {
  for (std::string_view name : kSimulatedDriverLibraries) {
    const std::string path = SimulatedLibraryPath(library_dir, name);
    if (access(path.c_str(), R_OK) != 0) {
      return Status::FailedPrecondition("the simulated driver is not installed at " + path + " (" +
                                        std::strerror(errno) +
                                        "); check the gpuslice init container");
    }
  }
  return Status::Ok();
}

void AddSimulatedDriver(const SimulatedDriver& simulated, const std::string& library_dir,
                        ContainerAllocation& allocation) {
  namespace contract = core::contract;
  for (std::string_view name : kSimulatedDriverLibraries) {
    allocation.mounts.push_back(
        {std::string(contract::kContainerDriverLibraryDir) + "/" + std::string(name),
         SimulatedLibraryPath(library_dir, name), /*read_only=*/true});
  }
  const size_t slash = simulated.state_host_path.rfind('/');
  const std::string state_dir =
      slash == std::string::npos ? "." : simulated.state_host_path.substr(0, slash);
  const std::string state_name = simulated.state_host_path.substr(slash + 1);
  // Read-write: every process of every container keeps its own accounting slot there.
  allocation.mounts.push_back(
      {std::string(contract::kContainerSimStateDir), state_dir, /*read_only=*/false});
  allocation.envs[std::string(contract::kSimStateEnv)] =
      std::string(contract::kContainerSimStateDir) + "/" + state_name;
}

// The control devices NVIDIA's driver creates besides one node per GPU; not every node has all.
constexpr std::string_view kControlDevices[] = {"/dev/nvidiactl", "/dev/nvidia-uvm",
                                                "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset"};

std::string UnderRoot(const std::string& root, std::string_view path) {
  if (root.empty() || root == "/") return std::string(path);
  return (root.back() == '/' ? root.substr(0, root.size() - 1) : root) + std::string(path);
}

void AddDeviceNodes(const RuntimeOptions& runtime, const std::vector<const core::GpuInfo*>& gpus,
                    ContainerAllocation& allocation) {
  for (const core::GpuInfo* gpu : gpus) {
    if (gpu->minor < 0) continue;
    const std::string path = "/dev/nvidia" + std::to_string(gpu->minor);
    allocation.devices.push_back({path, UnderRoot(runtime.driver_root.host, path)});
  }
  for (std::string_view path : kControlDevices) {
    if (access(UnderRoot(runtime.driver_root.view, path).c_str(), F_OK) != 0) continue;
    allocation.devices.push_back({std::string(path), UnderRoot(runtime.driver_root.host, path)});
  }
}

bool UsesCdi(const RuntimeOptions& runtime) {
  return std::any_of(runtime.strategies.begin(), runtime.strategies.end(),
                     [](auto strategy) { return strategy != core::DeviceListStrategy::kEnvvar; });
}

bool Uses(const RuntimeOptions& runtime, core::DeviceListStrategy strategy) {
  return std::find(runtime.strategies.begin(), runtime.strategies.end(), strategy) !=
         runtime.strategies.end();
}

std::string BaseName(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

RuntimeOptions RuntimeOptionsFor(const core::Config& config, const DriverRoot& driver_root) {
  RuntimeOptions runtime;
  runtime.strategies = config.device_list_strategies;
  runtime.pass_device_specs = config.pass_device_specs;
  runtime.driver_root = driver_root;
  return runtime;
}

Status WritePreloadFile(const std::string& library_dir) {
  const std::string path = library_dir + "/" + std::string(kPreloadFileName);
  const std::string wanted = std::string(core::contract::kContainerLibraryPath) + "\n";
  // Bounded and never blocking, whatever is at the path; rewritten only when it differs.
  Result<std::string> existing = io::ReadFile(path, 4096);
  if (existing.ok() && *existing == wanted) return Status::Ok();
  // Atomic replace: a container starting right now mounts either the old or the new file.
  return io::WriteFile(path, wanted);
}

ContractBuilder::ContractBuilder(std::string library_dir, RegionStore& regions,
                                 const SimulatedDriver* simulated)
    : library_dir_(std::move(library_dir)), regions_(regions), simulated_(simulated) {}

Result<ContainerAllocation> ContractBuilder::Build(const ContractRequest& request) const {
  namespace contract = core::contract;
  if (request.gpus.empty()) return Status::InvalidArgument("the container gets no GPUs");
  if (request.gpus.size() > static_cast<size_t>(contract::kMaxAllocatedGpus)) {
    return Status::InvalidArgument("a container may see at most " +
                                   std::to_string(contract::kMaxAllocatedGpus) + " GPUs");
  }
  const std::string library = library_dir_ + "/" + std::string(kLibraryFileName);
  if (access(library.c_str(), R_OK) != 0) {
    return Status::FailedPrecondition("the enforcement library is not installed at " + library +
                                      " (" + std::strerror(errno) +
                                      "); check the gpuslice init container");
  }
  if (simulated_ != nullptr) GPUSLICE_RETURN_IF_ERROR(CheckSimulatedDriver(library_dir_));

  ContainerAllocation allocation;
  std::vector<std::string> uuids;
  for (size_t i = 0; i < request.gpus.size(); ++i) {
    const GpuShare& gpu = request.gpus[i];
    uuids.push_back(gpu.uuid);
    allocation.limits.gpus.push_back({gpu.uuid, gpu.memory_bytes, gpu.compute_percent});
    allocation.envs[contract::MemoryLimitEnv(static_cast<int>(i))] =
        std::to_string(gpu.memory_bytes);
    allocation.envs[contract::ComputeLimitEnv(static_cast<int>(i))] =
        std::to_string(gpu.compute_percent);
  }
  const std::string region =
      std::string(contract::kContainerRegionDir) + "/" + std::string(contract::kRegionFileName);
  allocation.limits.region_path = region;
  allocation.limits.allow_disable = request.allow_disable;
  // The environment repeats the limits for programs that read them; the library trusts only
  // the file, since a pod spec can override any variable.
  allocation.envs[std::string(contract::kVisibleDevicesEnv)] =
      request.visible_devices_env ? Join(uuids, ",") : "void";
  allocation.envs[std::string(contract::kRegionEnv)] = region;
  if (Status valid = contract::ValidateLimitsFile(allocation.limits); !valid.ok()) {
    return Status::InvalidArgument("cannot write the container's limits: " + valid.message());
  }

  Result<std::string> region_dir = regions_.Create(request.resource, request.ids, request.slicing,
                                                   contract::FormatLimitsFile(allocation.limits));
  if (!region_dir.ok()) return region_dir.status();
  allocation.region_dir = *region_dir;
  // The region file itself, not its directory: a mount point cannot be deleted or replaced
  // from inside the container, and the directory's other files stay out of reach.
  allocation.mounts.push_back(
      {region, *region_dir + "/" + std::string(contract::kRegionFileName), /*read_only=*/false});
  allocation.mounts.push_back({std::string(contract::kContainerLimitsDir),
                               *region_dir + "/" + std::string(kLimitsDirName),
                               /*read_only=*/true});
  allocation.mounts.push_back(
      {std::string(contract::kContainerLibraryPath), library, /*read_only=*/true});
  if (request.env_injection) {
    allocation.envs[std::string(contract::kLdPreloadEnv)] =
        std::string(contract::kContainerLibraryPath);
  } else {
    allocation.mounts.push_back({std::string(contract::kContainerPreloadFile),
                                 library_dir_ + "/" + std::string(kPreloadFileName),
                                 /*read_only=*/true});
  }
  if (simulated_ != nullptr && request.simulated_driver_mounts) {
    AddSimulatedDriver(*simulated_, library_dir_, allocation);
  }
  return allocation;
}

Allocator::Allocator(const Inventory& inventory, std::map<std::string, std::string> unhealthy,
                     std::string library_dir, RegionStore& regions,
                     const SimulatedDriver* simulated, RuntimeOptions runtime)
    : inventory_(inventory),
      unhealthy_(std::move(unhealthy)),
      regions_(regions),
      simulated_(simulated),
      runtime_(std::move(runtime)),
      contract_(std::move(library_dir), regions, simulated) {}

Result<ContainerAllocation> Allocator::Allocate(std::string_view resource,
                                                const std::vector<std::string>& device_ids) const {
  if (device_ids.empty()) return Status::InvalidArgument("the container requests no devices");
  // Slices per GPU, keyed by inventory position, which is GPU index order.
  std::map<size_t, int> slices_per_gpu;
  std::set<std::string> seen;
  std::vector<std::string> unknown, duplicated, on_unhealthy;
  for (const std::string& id : device_ids) {
    if (!seen.insert(id).second) {
      duplicated.push_back(id);
      continue;
    }
    Result<SliceRef> ref = inventory_.Resolve(resource, id);
    if (!ref.ok()) {
      unknown.push_back(id);
      continue;
    }
    const core::GpuInfo& gpu = inventory_.gpus()[ref->gpu].gpu;
    if (auto it = unhealthy_.find(gpu.uuid); it != unhealthy_.end()) {
      on_unhealthy.push_back(id + " (GPU " + std::to_string(gpu.index) + ": " + it->second + ")");
      continue;
    }
    ++slices_per_gpu[ref->gpu];
  }
  if (!unknown.empty()) {
    return Status::NotFound("unknown " + std::string(resource) +
                            " device IDs: " + Join(unknown, ", "));
  }
  if (!duplicated.empty()) {
    return Status::InvalidArgument("device IDs requested twice: " + Join(duplicated, ", "));
  }
  if (!on_unhealthy.empty()) {
    return Status::FailedPrecondition("devices on unhealthy GPUs: " + Join(on_unhealthy, ", "));
  }
  for (const auto& [position, count] : slices_per_gpu) {
    const SlicedGpu& sliced = inventory_.gpus()[position];
    if (!sliced.profile.distinct_gpus || count == 1) continue;
    return Status::FailedPrecondition(
        std::to_string(count) + " of the container's slices are on GPU " +
        std::to_string(sliced.gpu.index) + " (" + sliced.gpu.uuid + "), but profile \"" +
        (sliced.profile.name.empty() ? "defaultProfile" : sliced.profile.name) +
        "\" gives each slice of a container a GPU of its own (distinctGpus)");
  }
  const bool cdi = UsesCdi(runtime_);
  // Checked before the contract is built, which creates the allocation directory.
  if (simulated_ != nullptr) {
    const std::string spec = SimulatedCdiSpecPath(simulated_->cdi_spec_dir);
    if (cdi && (simulated_->cdi_spec_dir.empty() || access(spec.c_str(), R_OK) != 0)) {
      return Status::FailedPrecondition(
          "deviceListStrategy names CDI devices, but the simulated GPUs' CDI spec is not at " +
          (simulated_->cdi_spec_dir.empty() ? std::string("a CDI spec directory (--cdi-spec-dir)")
                                            : spec));
    }
  }

  ContractRequest request;
  request.resource = std::string(resource);
  request.ids = device_ids;
  // Enforcement can be switched off only where every profile involved allows it.
  request.allow_disable = true;
  request.visible_devices_env = Uses(runtime_, core::DeviceListStrategy::kEnvvar);
  request.simulated_driver_mounts = !cdi;
  std::vector<const core::GpuInfo*> gpus;
  std::vector<std::string> uuids;
  for (const auto& [position, count] : slices_per_gpu) {
    const SlicedGpu& sliced = inventory_.gpus()[position];
    const core::SliceLimits limits =
        core::LimitsForSlices(sliced.profile, sliced.gpu.memory_bytes, count);
    request.gpus.push_back({sliced.gpu.uuid, limits.memory_bytes, limits.compute_percent});
    request.slicing.push_back(
        {sliced.gpu.uuid, sliced.profile.slices, sliced.profile.reserved_memory_bytes});
    request.env_injection |= sliced.profile.injection == core::LibraryInjection::kEnv;
    request.allow_disable &= sliced.profile.allow_disable;
    gpus.push_back(&sliced.gpu);
    uuids.push_back(sliced.gpu.uuid);
  }
  Result<ContainerAllocation> built = contract_.Build(request);
  if (!built.ok()) return built.status();
  ContainerAllocation allocation = std::move(*built);
  const std::string& region_dir = allocation.region_dir;
  std::vector<std::string> cdi_devices;
  for (const std::string& uuid : uuids) cdi_devices.push_back(NvidiaCdiDevice(uuid));
  if (Uses(runtime_, core::DeviceListStrategy::kCdiCri)) allocation.cdi_devices = cdi_devices;
  if (Uses(runtime_, core::DeviceListStrategy::kCdiAnnotations)) {
    // The allocation directory's name is unique per container allocation.
    Result<std::string> key = CdiAnnotationKey(BaseName(region_dir));
    if (!key.ok()) {
      regions_.Remove(region_dir);
      return Status::Internal(key.status().message());
    }
    allocation.annotations[*key] = Join(cdi_devices, ",");
  }
  if (runtime_.pass_device_specs && simulated_ == nullptr) {
    AddDeviceNodes(runtime_, gpus, allocation);
  }
  return allocation;
}

}  // namespace gpuslice::plugin
