// `gpuslice render`: for GPU NodePools and a slicing profile, the manifests that make Karpenter
// provision for slices — each NodePool with the nvidia.com/gpu taint, the NodeOverlays that
// declare every instance type's slices (Karpenter's NodeOverlay feature gate), and the Helm
// values whose device plugin config advertises exactly those counts. `gpuslice plan` reads
// all three back.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/status.h"
#include "kube/objects.h"
#include "plan/catalog.h"
#include "plan/slicing.h"

namespace gpuslice::plan {

// One sliced instance type of one NodePool.
struct RenderedType {
  std::string node_pool;
  std::string instance_type;
  int gpus = 0;
  std::string gpu_model;
  int slices_per_gpu = 1;
  uint64_t slice_memory = 0;
  std::string resource_name;
  int64_t capacity = 0;  // gpus x slices, as the NodeOverlay declares it
  std::optional<double> price_per_hour;
};

struct Rendering {
  std::string node_pools_yaml;     // the NodePools with the GPU taint
  std::string node_overlays_yaml;  // the NodeOverlays
  std::string values_yaml;         // Helm values for deploy/helm/gpuslice (`config:`)
  std::vector<kube::NodeOverlay> overlays;
  core::Config config;
  std::vector<RenderedType> types;
};

// Returns InvalidArgument when no NodePool is given, a NodePool's document cannot be rewritten,
// or the profile cannot be expressed as a device plugin config.
Result<Rendering> Render(const std::vector<kube::NodePool>& pools, const Catalog& catalog,
                         const SlicingProfile& profile);

// Reads a device plugin config given either as the config itself (`version: v1`) or as Helm
// values holding it under `config:`. Errors name `file_name`.
Result<core::Config> ReadPluginConfig(std::string_view text, std::string_view file_name);

}  // namespace gpuslice::plan
