// A simulated GPU node: the real device plugin on simulated GPUs (the simulated NVML, loaded
// through the plugin's own dlopen path) behind the kubelet stand-in, in one process. It
// answers "what would this slicing config do with these pods on this node?": every
// container's slices, GPU, memory limit and compute share as the plugin's Allocate sets
// them, and the pods that would not fit, with the reason.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/gpu.h"
#include "core/status.h"
#include "kube/objects.h"
#include "kubelet/device_manager.h"

namespace gpuslice::nodesim {

struct NodeSimOptions {
  // Slicing profiles and allocation policy. Its paths (plugin directory, library directory,
  // regions) are replaced by a private temporary directory.
  core::Config config;
  // The simulated GPUs, e.g. "1xH100-80GB,2xT4" or a YAML spec file.
  std::string gpu_spec;
  // The simulated NVML library (libgpuslice-sim-nvml.so).
  std::string nvml_library;
  // Directory holding libgpuslice.so, which Allocate requires to exist.
  std::string library_dir;
  // How long to wait for the plugin to register every resource.
  std::chrono::milliseconds startup_timeout{std::chrono::seconds(30)};
};

// One visible GPU of a container, with the limits the plugin set for it.
struct VisibleGpu {
  int index = 0;
  std::string uuid;
  std::string name;
  int slices = 0;
  uint64_t memory_limit_bytes = 0;
  int compute_percent = 0;
};

struct ContainerPlacement {
  std::string pod;  // "namespace/name"
  std::string container;
  std::string resource;
  std::vector<std::string> device_ids;
  std::vector<VisibleGpu> gpus;
};

struct UnplacedPod {
  std::string pod;
  std::string reason;
};

// A node GPU and how the config slices it.
struct NodeGpu {
  core::GpuInfo gpu;
  std::string profile;  // "" for the default profile
  std::string resource;
  int slices = 0;
  uint64_t slice_memory_bytes = 0;
  int slice_compute_percent = 0;
};

struct NodeSimReport {
  std::vector<NodeGpu> gpus;
  std::vector<ContainerPlacement> placements;
  std::vector<UnplacedPod> unplaced;
  int pods_without_gpus = 0;  // pods that request no advertised or GPU-like resource
  std::vector<std::string> warnings;
};

class NodeSim {
 public:
  // Starts the simulated GPUs, the plugin and the kubelet stand-in, and waits until every
  // resource is registered. Returns InvalidArgument when the config does not fit the GPUs,
  // Unavailable when the simulated NVML cannot be loaded or a resource never registers.
  // Sets the process's GPUSLICE_SIM_* environment (the simulated NVML reads it).
  static Result<std::unique_ptr<NodeSim>> Start(NodeSimOptions options);
  ~NodeSim();

  // Admits the pods in order, as the kubelet would: each container's extended-resource limits
  // are allocated through GetPreferredAllocation and Allocate; a pod that cannot get all of
  // its containers' devices is rejected whole and its devices freed.
  NodeSimReport Run(const std::vector<kube::Pod>& pods);

  // The same for `manifests.pods`, and pods whose claims (from `manifests`) ask DeviceClass
  // gpu.gpuslice.io for shares are placed on the GPUs by memory and compute as kube-scheduler
  // books them, and prepared by the DRA driver's own code (config.dra holds the policies).
  NodeSimReport Run(const kube::Manifests& manifests);

  // The kubelet stand-in, for callers that drive the plugin directly (benchmarks).
  kubelet::DeviceManager& kubelet();

 private:
  class Impl;
  explicit NodeSim(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace gpuslice::nodesim
