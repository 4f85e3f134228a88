#include "nodesim/node_sim.h"

#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "core/contract.h"
#include "core/slicing.h"
#include "dra/device_model.h"
#include "kube/claims.h"
#include "nodesim/dra_node.h"
#include "gpu/nvml_backend.h"
#include "plugin/allocator.h"
#include "plugin/inventory.h"
#include "plugin/metrics.h"
#include "plugin/plugin_manager.h"
#include "sim/environment.h"

namespace gpuslice::nodesim {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> Split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(separator, start);
    if (end == std::string::npos) end = text.size();
    if (end > start) parts.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

// Extended resources are the ones the kubelet asks device plugins for: a domain prefix
// outside kubernetes.io (and not hugepages, which are native).
bool IsExtendedResource(const std::string& name) {
  return name.find('/') != std::string::npos && name.find("kubernetes.io/") == std::string::npos &&
         name.rfind("requests.", 0) != 0;
}

}  // namespace

class NodeSim::Impl {
 public:
  ~Impl() {
    if (manager_ != nullptr) manager_->Stop();
    if (run_.joinable()) run_.join();
    manager_.reset();
    kubelet_.reset();
    backend_.reset();
    std::error_code ignored;
    if (!dir_.empty()) fs::remove_all(dir_, ignored);
  }

  Status Start(NodeSimOptions options);
  NodeSimReport Run(const std::vector<kube::Pod>& pods, const kube::Manifests* claims);

  std::string dir_;
  core::Config config_;
  std::unique_ptr<gpu::NvmlBackend> backend_;
  plugin::MetricsRegistry metrics_;
  std::unique_ptr<plugin::PluginManager> manager_;
  std::thread run_;
  std::unique_ptr<kubelet::DeviceManager> kubelet_;
  std::unique_ptr<plugin::Inventory> inventory_;
  std::unique_ptr<DraNode> dra_;
};

Status NodeSim::Impl::Start(NodeSimOptions options) {
  std::error_code error;
  const fs::path temp = fs::temp_directory_path(error);
  if (error) {
    return Status::InvalidArgument("no temporary directory (check TMPDIR): " + error.message());
  }
  std::string pattern = (temp / "gpuslice-node-sim-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) {
    return Status::Unavailable("cannot create a temporary directory in " + temp.string() + ": " +
                               std::strerror(errno));
  }
  dir_ = pattern;
  const std::string state = dir_ + "/sim.state";
  // Created here, where a spec file can be read: the simulated NVML reads spec strings only.
  Result<sim::OpenedState> opened = sim::OpenOrCreateState(state, options.gpu_spec);
  if (!opened.ok()) return opened.status();
  setenv("GPUSLICE_SIM_SPEC", options.gpu_spec.c_str(), 1);
  setenv("GPUSLICE_SIM_STATE", state.c_str(), 1);
  // The plugin sees every GPU of the node, as its container does.
  setenv(std::string(core::contract::kVisibleDevicesEnv).c_str(), "all", 1);

  Result<std::unique_ptr<gpu::NvmlBackend>> backend =
      gpu::NvmlBackend::Create({options.nvml_library, "/sys"});
  if (!backend.ok()) return backend.status();
  backend_ = std::move(*backend);

  config_ = std::move(options.config);
  config_.device_plugin_dir = dir_ + "/device-plugins";
  config_.regions_host_dir = dir_ + "/regions";
  config_.library_host_dir = dir_ + "/lib";
  fs::create_directories(config_.library_host_dir, error);
  if (error) return Status::Unavailable(config_.library_host_dir + ": " + error.message());
  const fs::path library = fs::path(options.library_dir) / std::string(plugin::kLibraryFileName);
  if (!fs::exists(library, error)) {
    return Status::FailedPrecondition("the enforcement library " + library.string() +
                                      " is missing (build the gpuslice_preload target)");
  }
  const fs::path absolute_library = fs::absolute(library, error);
  fs::create_symlink(absolute_library,
                     fs::path(config_.library_host_dir) / std::string(plugin::kLibraryFileName),
                     error);

  Result<gpu::Discovery> discovery = backend_->Discover();
  if (!discovery.ok()) return discovery.status();
  Result<plugin::Inventory> inventory = plugin::Inventory::Build(config_, discovery->gpus);
  if (!inventory.ok()) return inventory.status();
  inventory_ = std::make_unique<plugin::Inventory>(std::move(*inventory));

  const std::string pod_resources = dir_ + "/pod-resources.sock";
  Result<std::unique_ptr<kubelet::DeviceManager>> kubelet =
      kubelet::DeviceManager::Start({config_.device_plugin_dir, pod_resources});
  if (!kubelet.ok()) return kubelet.status();
  kubelet_ = std::move(*kubelet);

  plugin::PluginManagerOptions manager_options;
  manager_options.pod_resources_socket = pod_resources;
  manager_ = std::make_unique<plugin::PluginManager>(manager_options, config_, *backend_,
                                                     metrics_, core::SystemClock::Get());
  GPUSLICE_RETURN_IF_ERROR(manager_->Start());
  run_ = std::thread([this] { manager_->Run(); });

  for (const std::string& resource : inventory_->ResourceNames()) {
    size_t expected = 0;
    for (size_t position : inventory_->GpusOf(resource)) {
      expected += static_cast<size_t>(inventory_->gpus()[position].profile.slices);
    }
    const bool ready = kubelet_->WaitForDevices(
        resource, [expected](const auto& devices) { return devices.size() == expected; },
        options.startup_timeout);
    if (!ready) {
      return Status::Unavailable("the plugin did not advertise " + resource + " within " +
                                 std::to_string(options.startup_timeout.count()) + " ms");
    }
  }
  return Status::Ok();
}

NodeSimReport NodeSim::Impl::Run(const std::vector<kube::Pod>& pods,
                                  const kube::Manifests* claims) {
  NodeSimReport report;
  std::map<std::string, const plugin::SlicedGpu*> by_uuid;
  for (const plugin::SlicedGpu& sliced : inventory_->gpus()) {
    const core::SliceLimits one = core::LimitsForSlices(sliced.profile, sliced.gpu.memory_bytes, 1);
    report.gpus.push_back({sliced.gpu, sliced.profile.name, sliced.profile.resource_name,
                           sliced.profile.slices, one.memory_bytes, one.compute_percent});
    by_uuid[sliced.gpu.uuid] = &sliced;
  }
  const std::vector<std::string> advertised = inventory_->ResourceNames();
  std::string advertised_list;
  for (const std::string& name : advertised) {
    advertised_list += (advertised_list.empty() ? "" : ", ") + name;
  }

  for (const kube::Pod& pod : pods) {
    const std::string pod_name = pod.namespace_name + "/" + pod.name;
    if (claims != nullptr && !pod.spec().resource_claims.empty()) {
      Result<std::vector<kube::ClaimedRequest>> shares =
          kube::ClaimedRequests(pod, *claims, dra::kDriverName);
      if (!shares.ok()) {
        report.unplaced.push_back({pod_name, shares.status().message()});
        continue;
      }
      if (!shares->empty()) {
        if (dra_ == nullptr) dra_ = std::make_unique<DraNode>(dir_, config_, *inventory_);
        Result<std::vector<ContainerPlacement>> placed = dra_->Admit(pod, *shares);
        if (!placed.ok()) {
          report.unplaced.push_back({pod_name, placed.status().message()});
        } else {
          report.placements.insert(report.placements.end(), placed->begin(), placed->end());
        }
        continue;
      }
    }
    struct Request {
      std::string container;
      std::string resource;
      int count;
    };
    std::vector<Request> requests;
    std::string rejection;
    for (const kube::Container& container : pod.spec().containers) {
      std::string served;  // the gpuslice resource this container already requests
      std::set<std::string> names;
      for (const auto& [name, quantity] : container.limits) names.insert(name);
      for (const auto& [name, quantity] : container.requests) names.insert(name);
      for (const std::string& name : names) {
        if (!IsExtendedResource(name)) continue;
        const auto limit = container.limits.find(name);
        const core::Quantity& quantity =
            limit != container.limits.end() ? limit->second : container.requests.at(name);
        // kube::ParseManifests accepts only whole, positive counts of extended resources.
        const int64_t count = quantity.Value().value_or(0);
        if (count <= 0) continue;  // "nvidia.com/gpu: 0" asks for nothing
        if (std::find(advertised.begin(), advertised.end(), name) == advertised.end()) {
          rejection = "container " + container.name + " requests " + name +
                      ", which this node does not advertise (it advertises " + advertised_list +
                      ")";
          break;
        }
        // Every gpuslice resource's Allocate sets the same environment variables and mounts
        // the region at the same path: the runtime could not start such a container.
        if (!served.empty()) {
          rejection = "container " + container.name + " requests both " + served + " and " +
                      name + "; a container can hold slices of one gpuslice resource only";
          break;
        }
        served = name;
        requests.push_back({container.name, name, static_cast<int>(count)});
      }
      if (!rejection.empty()) break;
    }
    if (rejection.empty() && requests.empty()) {
      ++report.pods_without_gpus;
      continue;
    }
    std::vector<ContainerPlacement> placed;
    for (const Request& request : requests) {
      if (!rejection.empty()) break;
      Result<kubelet::ContainerAllocation> allocation =
          kubelet_->Allocate(pod_name, request.container, request.resource, request.count);
      if (!allocation.ok()) {
        rejection = "container " + request.container + ": " + allocation.status().message();
        break;
      }
      ContainerPlacement placement{pod_name, request.container, request.resource,
                                   allocation->device_ids, {}};
      const auto visible = allocation->envs.find(std::string(core::contract::kVisibleDevicesEnv));
      const std::vector<std::string> uuids =
          visible == allocation->envs.end() ? std::vector<std::string>{} : Split(visible->second, ',');
      for (size_t i = 0; i < uuids.size(); ++i) {
        VisibleGpu gpu;
        gpu.uuid = uuids[i];
        if (auto it = by_uuid.find(gpu.uuid); it != by_uuid.end()) {
          gpu.index = it->second->gpu.index;
          gpu.name = it->second->gpu.name;
        }
        gpu.slices = static_cast<int>(std::count_if(
            allocation->device_ids.begin(), allocation->device_ids.end(),
            [&](const std::string& id) { return id.rfind(gpu.uuid + "::", 0) == 0; }));
        const auto memory = allocation->envs.find(core::contract::MemoryLimitEnv(static_cast<int>(i)));
        const auto compute = allocation->envs.find(core::contract::ComputeLimitEnv(static_cast<int>(i)));
        if (memory != allocation->envs.end()) gpu.memory_limit_bytes = std::stoull(memory->second);
        if (compute != allocation->envs.end()) gpu.compute_percent = std::stoi(compute->second);
        placement.gpus.push_back(std::move(gpu));
      }
      placed.push_back(std::move(placement));
    }
    if (!rejection.empty()) {
      kubelet_->ReleasePod(pod_name);
      report.unplaced.push_back({pod_name, rejection});
      continue;
    }
    report.placements.insert(report.placements.end(), placed.begin(), placed.end());
  }
  return report;
}

NodeSim::NodeSim(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
NodeSim::~NodeSim() = default;

Result<std::unique_ptr<NodeSim>> NodeSim::Start(NodeSimOptions options) {
  auto impl = std::make_unique<Impl>();
  GPUSLICE_RETURN_IF_ERROR(impl->Start(std::move(options)));
  return std::unique_ptr<NodeSim>(new NodeSim(std::move(impl)));
}

NodeSimReport NodeSim::Run(const std::vector<kube::Pod>& pods) {
  return impl_->Run(pods, nullptr);
}

NodeSimReport NodeSim::Run(const kube::Manifests& manifests) {
  return impl_->Run(manifests.pods, &manifests);
}

kubelet::DeviceManager& NodeSim::kubelet() { return *impl_->kubelet_; }

}  // namespace gpuslice::nodesim
