// Slicing profiles for planning: how many slices each catalog GPU is split into and under
// which resource name they are advertised; the NodeOverlays that tell Karpenter about them and
// the device plugin config that advertises exactly those counts.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/status.h"
#include "kube/objects.h"
#include "plan/catalog.h"

namespace gpuslice::plan {

inline constexpr std::string_view kSliceResource = "gpuslice.io/slice";
// Pods may state the GPU memory they need; plan reports it, and with a slice-memory profile
// asks for enough slices to hold it.
inline constexpr std::string_view kGpuMemoryAnnotation = "gpuslice.io/gpu-memory";
// Marks the NodeOverlays gpuslice writes, so plan can tell them from the cluster's own.
inline constexpr std::string_view kManagedByLabel = "app.kubernetes.io/managed-by";
inline constexpr std::string_view kManagedByValue = "gpuslice";
// On gpuslice's NodeOverlays of a slice-memory profile: the per-slice memory target, so plan
// reading them back asks stated GPU memory in slices the same way.
inline constexpr std::string_view kSliceMemoryLabel = "gpuslice.io/slice-memory";

// How one GPU of an instance type is advertised.
struct GpuSlices {
  int slices = 1;
  std::string resource_name{core::kDefaultResourceName};
  uint64_t reserved_memory = 0;

  // True when the GPU is advertised as anything but one whole nvidia.com/gpu.
  bool sliced() const { return slices > 1 || resource_name != core::kDefaultResourceName; }
  // Memory of one slice of a GPU with `gpu_memory` bytes.
  uint64_t SliceMemory(uint64_t gpu_memory) const;
};

class SlicingProfile {
 public:
  // "4" (every model), "v100=4,a10g=2", "*=2,h100=8": slices per catalog GPU model (gpu_model
  // column); models not named and without "*" stay whole. Returns InvalidArgument for a model
  // the catalog does not have or a count outside [1, 64].
  static Result<SlicingProfile> FromSliceCounts(std::string_view spec, const Catalog& catalog,
                                                std::string resource_name,
                                                uint64_t reserved_memory);
  // Every GPU split into as many slices of at least `slice_memory` bytes as fit (at least 1,
  // at most 64).
  static Result<SlicingProfile> FromSliceMemory(uint64_t slice_memory, std::string resource_name,
                                                uint64_t reserved_memory);
  // The device plugin's config: each catalog GPU gets the profile its NVML name matches.
  static SlicingProfile FromConfig(core::Config config, std::string source);

  // Returns how one GPU of `type` is advertised, or InvalidArgument when two config profiles
  // match it or its slices would get no memory (core::CheckSliceMemory: the device plugin
  // would refuse the GPU).
  Result<GpuSlices> For(const InstanceType& type) const;

  // Whether the device plugin config gives each slice of a container a GPU of its own
  // (distinctGpus) in some profile advertising `resource`: plan then gives a pod asking k
  // slices only instance types with at least k GPUs.
  bool DistinctGpus(std::string_view resource) const;

  // The memory the profile holds back from each GPU of `type` (reservedMemory), which the DRA
  // driver leaves out of the GPU's capacity too; InvalidArgument when two config profiles
  // match the type's GPU.
  Result<uint64_t> ReservedMemory(const InstanceType& type) const;

  // The DRA driver's request policies (the config's dra block) of FromConfig profiles; null
  // for the others, which have none.
  const core::DraConfig* dra_policy() const { return config_ ? &config_->dra : nullptr; }

  // The per-slice memory target of FromSliceMemory profiles.
  std::optional<uint64_t> slice_memory() const { return slice_memory_; }
  // "v100=4, a10g=2 as gpuslice.io/slice", "slices of at least 10Gi as gpuslice.io/slice",
  // "config values.yaml".
  const std::string& description() const { return description_; }

 private:
  // For() without the memory check.
  Result<GpuSlices> Slices(const InstanceType& type) const;

  std::map<std::string, int> counts_;  // model -> slices; "*" for every other model
  std::optional<uint64_t> slice_memory_;
  std::optional<core::Config> config_;
  std::string resource_name_;
  uint64_t reserved_memory_ = 0;
  std::string description_;
};

// The NVML product name of a catalog GPU ("Tesla V100-SXM2-16GB" for v100 with 16 GiB), which
// the device plugin's model globs match.
std::string NvmlName(const InstanceType& type);

// NodeOverlays giving each sliced GPU type of `pool` its `gpus x slices` of the slice resource,
// one overlay per distinct count, limited to the pool, labelled as gpuslice's (with the slice
// memory target, if the profile has one). `types` are the pool's instance types.
Result<std::vector<kube::NodeOverlay>> SliceOverlays(const kube::NodePool& pool,
                                                     const std::vector<const InstanceType*>& types,
                                                     const SlicingProfile& profile);

// A device plugin config advertising exactly the counts SliceOverlays declares for `types`:
// one profile per GPU model (per model and memory where the variants are sliced differently).
Result<core::Config> PluginConfig(const std::vector<const InstanceType*>& types,
                                  const SlicingProfile& profile);

// True when `overlay` was written by gpuslice.
bool IsManagedOverlay(const kube::NodeOverlay& overlay);

}  // namespace gpuslice::plan
