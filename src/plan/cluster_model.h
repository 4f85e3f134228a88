// A planning input turned into what the provisioner and the optimizer work on: pods as
// resource vectors with their label requirements and tolerations, NodePools as templates with
// their instance types (NodeOverlays applied), DaemonSet overhead and limits. In the sliced
// scenario pods' GPU requests become slice requests here.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "kube/objects.h"
#include "plan/catalog.h"
#include "plan/provisioner.h"
#include "plan/resources.h"

namespace gpuslice::plan {

// How pods' nvidia.com/gpu requests are rewritten when GPUs are sliced.
struct GpuRewrite {
  std::string resource_name;  // requests of nvidia.com/gpu become requests of this resource
  // With a per-slice memory target, pods that state their GPU memory (the gpuslice.io/gpu-memory
  // annotation) ask for ceil(memory / slice_memory) slices instead of one per GPU.
  std::optional<uint64_t> slice_memory;
  // Each slice of a pod on a GPU of its own (the plugin's distinctGpus): a pod asking k slices
  // fits only instance types with at least k GPUs.
  bool distinct_gpus = false;
};

struct ClusterModelInput {
  const kube::Manifests* manifests = nullptr;
  const Catalog* catalog = nullptr;
  std::vector<const kube::NodeOverlay*> overlays;
  std::optional<GpuRewrite> rewrite;
};

struct ClusterModel {
  ResourceSpace space;
  std::vector<PodDemand> pods;          // one per input pod, same order
  std::vector<NodePoolTemplate> pools;  // in Karpenter's order: weight, then name, descending
  int gpu_resource = ResourceSpace::kNvidiaGpu;  // what pods' GPU units are requested as
  std::vector<uint64_t> pod_gpu_memory;  // each pod's stated GPU memory; 0 when it states none
  std::vector<std::string> warnings;
};

// Returns InvalidArgument naming the pod for a malformed gpuslice.io/gpu-memory annotation or a
// request that overflows.
Result<ClusterModel> BuildClusterModel(const ClusterModelInput& input);

}  // namespace gpuslice::plan
