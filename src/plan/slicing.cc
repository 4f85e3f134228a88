#include "plan/slicing.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <set>

namespace gpuslice::plan {
namespace {

struct KnownGpu {
  std::string_view model;
  uint64_t memory_mib;  // 0: any memory
  std::string_view nvml_name;
  std::string_view glob;  // matches every memory variant of the model
};

// NVML names of the GPUs in the built-in catalog. T4 and L4 globs end without "*" so they do
// not also match T4G and L40S.
constexpr KnownGpu kKnownGpus[] = {
    {"t4", 0, "Tesla T4", "*T4"},
    {"t4g", 0, "NVIDIA T4G", "*T4G"},
    {"a10g", 0, "NVIDIA A10G", "*A10G*"},
    {"l4", 0, "NVIDIA L4", "*L4"},
    {"l40s", 0, "NVIDIA L40S", "*L40S*"},
    {"v100", 16384, "Tesla V100-SXM2-16GB", "*V100*"},
    {"v100", 32768, "Tesla V100-SXM2-32GB", "*V100*"},
    {"a100", 40960, "NVIDIA A100-SXM4-40GB", "*A100*"},
    {"a100", 81920, "NVIDIA A100-SXM4-80GB", "*A100*"},
    {"h100", 0, "NVIDIA H100 80GB HBM3", "*H100*"},
    {"h200", 0, "NVIDIA H200", "*H200*"},
    {"b200", 0, "NVIDIA B200", "*B200*"},
    {"b300", 0, "NVIDIA B300", "*B300*"},
    {"rtx-pro-4500", 0, "NVIDIA RTX PRO 4500 Blackwell", "*RTX PRO 4500*"},
    {"rtx-pro-server-6000", 0, "NVIDIA RTX PRO 6000 Blackwell Server Edition", "*RTX PRO 6000*"},
};

std::string Upper(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

const KnownGpu* FindKnown(const InstanceType& type) {
  const KnownGpu* any = nullptr;
  for (const KnownGpu& gpu : kKnownGpus) {
    if (gpu.model != type.gpu_model) continue;
    if (gpu.memory_mib == (type.gpu_memory_bytes >> 20)) return &gpu;
    if (any == nullptr) any = &gpu;
  }
  return any;
}

std::string ModelGlob(const InstanceType& type) {
  const KnownGpu* known = FindKnown(type);
  if (known != nullptr) return std::string(known->glob);
  std::string glob = "*";
  glob += Upper(type.gpu_model);
  glob += "*";
  return glob;
}

// NVML names of memory variants carry the size ("Tesla V100-SXM2-16GB" for 16384 MiB).
std::string MemoryGlob(const InstanceType& type) {
  std::string model = ModelGlob(type);
  std::erase(model, '*');
  return "*" + model + "*" + std::to_string((type.gpu_memory_bytes >> 20) / 1024) + "GB*";
}

int SlicesOfMemory(uint64_t usable, uint64_t slice_memory) {
  const uint64_t slices = slice_memory == 0 ? 1 : usable / slice_memory;
  return static_cast<int>(std::clamp<uint64_t>(slices, 1, core::kMaxSlicesPerGpu));
}

std::string ShortResourceName(std::string_view resource) {
  const size_t slash = resource.rfind('/');
  std::string out(slash == std::string_view::npos ? resource : resource.substr(slash + 1));
  for (char& c : out) {
    c = std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(c)) : '-';
  }
  return out;
}

}  // namespace

uint64_t GpuSlices::SliceMemory(uint64_t gpu_memory) const {
  const uint64_t usable = gpu_memory > reserved_memory ? gpu_memory - reserved_memory : 0;
  return usable / static_cast<uint64_t>(std::max(slices, 1));
}

std::string NvmlName(const InstanceType& type) {
  const KnownGpu* known = FindKnown(type);
  if (known != nullptr &&
      (known->memory_mib == 0 || known->memory_mib == (type.gpu_memory_bytes >> 20))) {
    return std::string(known->nvml_name);
  }
  return "NVIDIA " + Upper(type.gpu_model) + " " +
         std::to_string((type.gpu_memory_bytes >> 20) / 1024) + "GB";
}

Result<SlicingProfile> SlicingProfile::FromSliceCounts(std::string_view spec,
                                                       const Catalog& catalog,
                                                       std::string resource_name,
                                                       uint64_t reserved_memory) {
  GPUSLICE_RETURN_IF_ERROR(core::ValidateResourceName(resource_name));
  SlicingProfile profile;
  profile.resource_name_ = std::move(resource_name);
  profile.reserved_memory_ = reserved_memory;
  std::set<std::string> models;
  for (const InstanceType& type : catalog.types) {
    if (!type.gpu_model.empty()) models.insert(type.gpu_model);
  }
  std::string_view rest = spec;
  while (true) {
    const size_t comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    const size_t equals = item.find('=');
    std::string model =
        equals == std::string_view::npos ? "*" : std::string(item.substr(0, equals));
    const std::string_view count_text =
        equals == std::string_view::npos ? item : item.substr(equals + 1);
    int count = 0;
    auto [ptr, ec] =
        std::from_chars(count_text.data(), count_text.data() + count_text.size(), count);
    if (count_text.empty() || ec != std::errc() || ptr != count_text.data() + count_text.size() ||
        count < 1 || count > core::kMaxSlicesPerGpu) {
      return Status::InvalidArgument(
          "slices \"" + std::string(item) +
          "\": expected <model>=<slices> or <slices>, slices from 1 to " +
          std::to_string(core::kMaxSlicesPerGpu));
    }
    for (char& c : model) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (model != "*" && !models.contains(model)) {
      std::string known;
      for (const std::string& m : models) known += (known.empty() ? "" : ", ") + m;
      return Status::InvalidArgument("slices \"" + std::string(item) +
                                     "\": the catalog has no GPU model \"" + model + "\" (it has " +
                                     known + ")");
    }
    if (!profile.counts_.emplace(model, count).second) {
      return Status::InvalidArgument("slices: GPU model \"" + model + "\" is given twice");
    }
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  for (const auto& [model, count] : profile.counts_) {
    if (!profile.description_.empty()) profile.description_ += ", ";
    profile.description_ += (model == "*" ? "every GPU" : model) + "=" + std::to_string(count);
  }
  profile.description_ += " as " + profile.resource_name_;
  return profile;
}

Result<SlicingProfile> SlicingProfile::FromSliceMemory(uint64_t slice_memory,
                                                       std::string resource_name,
                                                       uint64_t reserved_memory) {
  GPUSLICE_RETURN_IF_ERROR(core::ValidateResourceName(resource_name));
  if (slice_memory == 0) return Status::InvalidArgument("slice memory must be above zero");
  SlicingProfile profile;
  profile.slice_memory_ = slice_memory;
  profile.resource_name_ = std::move(resource_name);
  profile.reserved_memory_ = reserved_memory;
  profile.description_ =
      "slices of at least " + core::FormatBytes(slice_memory) + " as " + profile.resource_name_;
  return profile;
}

SlicingProfile SlicingProfile::FromConfig(core::Config config, std::string source) {
  SlicingProfile profile;
  profile.config_ = std::move(config);
  profile.description_ = "device plugin config " + source;
  return profile;
}

bool SlicingProfile::DistinctGpus(std::string_view resource) const {
  if (!config_) return false;
  const auto distinct = [&](const core::SlicingProfile& p) {
    return p.distinct_gpus && p.resource_name == resource;
  };
  return distinct(config_->default_profile) ||
         std::any_of(config_->profiles.begin(), config_->profiles.end(), distinct);
}

Result<GpuSlices> SlicingProfile::For(const InstanceType& type) const {
  Result<GpuSlices> slices = Slices(type);
  if (!slices.ok() || type.gpu_count == 0) return slices;
  core::SlicingProfile plugin_view;
  plugin_view.slices = slices->slices;
  plugin_view.reserved_memory_bytes = slices->reserved_memory;
  if (Status fits = core::CheckSliceMemory(plugin_view, type.gpu_memory_bytes); !fits.ok()) {
    return fits.WithContext("instance type " + type.name + " (" + type.gpu_model + ")");
  }
  return slices;
}

Result<uint64_t> SlicingProfile::ReservedMemory(const InstanceType& type) const {
  Result<GpuSlices> slices = Slices(type);
  if (!slices.ok()) return slices.status();
  return slices->reserved_memory;
}

Result<GpuSlices> SlicingProfile::Slices(const InstanceType& type) const {
  GpuSlices out;
  if (type.gpu_count == 0) return out;
  if (config_) {
    core::GpuInfo gpu;
    gpu.name = NvmlName(type);
    gpu.memory_bytes = type.gpu_memory_bytes;
    Result<std::vector<const core::SlicingProfile*>> assigned =
        core::AssignProfiles(*config_, {gpu});
    if (!assigned.ok()) return assigned.status();
    const core::SlicingProfile& p = *assigned->front();
    out.slices = p.slices;
    out.resource_name = p.resource_name;
    out.reserved_memory = p.reserved_memory_bytes;
    return out;
  }
  out.resource_name = resource_name_;
  out.reserved_memory = reserved_memory_;
  if (slice_memory_) {
    const uint64_t usable =
        type.gpu_memory_bytes > reserved_memory_ ? type.gpu_memory_bytes - reserved_memory_ : 0;
    out.slices = SlicesOfMemory(usable, *slice_memory_);
    return out;
  }
  auto it = counts_.find(type.gpu_model);
  if (it == counts_.end()) it = counts_.find("*");
  if (it == counts_.end()) return GpuSlices();  // left whole, as the default profile does
  out.slices = it->second;
  return out;
}

Result<std::vector<kube::NodeOverlay>> SliceOverlays(const kube::NodePool& pool,
                                                     const std::vector<const InstanceType*>& types,
                                                     const SlicingProfile& profile) {
  // (resource, units per node) -> instance types
  std::map<std::pair<std::string, int64_t>, std::vector<std::string>> groups;
  for (const InstanceType* type : types) {
    Result<GpuSlices> slices = profile.For(*type);
    if (!slices.ok()) return slices.status();
    if (!slices->sliced() || type->gpu_count == 0) continue;
    groups[{slices->resource_name, int64_t{type->gpu_count} * slices->slices}].push_back(
        type->name);
  }
  std::vector<kube::NodeOverlay> overlays;
  for (auto& [key, names] : groups) {
    const auto& [resource, units] = key;
    kube::NodeOverlay overlay;
    overlay.name =
        "gpuslice-" + pool.name + "-" + ShortResourceName(resource) + "-" + std::to_string(units);
    overlay.labels[std::string(kManagedByLabel)] = std::string(kManagedByValue);
    if (profile.slice_memory()) {
      overlay.labels[std::string(kSliceMemoryLabel)] = core::FormatBytes(*profile.slice_memory());
    }
    // Above the default weight, so a price or capacity overlay without one never conflicts.
    overlay.weight = 100;
    std::sort(names.begin(), names.end());
    overlay.requirements = {
        {"karpenter.sh/nodepool", kube::SelectorOperator::kIn, {pool.name}, std::nullopt},
        {"node.kubernetes.io/instance-type", kube::SelectorOperator::kIn, names, std::nullopt}};
    overlay.capacity.emplace(resource, *core::Quantity::Parse(std::to_string(units)));
    overlays.push_back(std::move(overlay));
  }
  return overlays;
}

Result<core::Config> PluginConfig(const std::vector<const InstanceType*>& types,
                                  const SlicingProfile& profile) {
  // model -> (memory MiB -> slices); only sliced GPUs get a profile.
  std::map<std::string, std::map<uint64_t, std::pair<const InstanceType*, GpuSlices>>> models;
  for (const InstanceType* type : types) {
    Result<GpuSlices> slices = profile.For(*type);
    if (!slices.ok()) return slices.status();
    if (!slices->sliced() || type->gpu_count == 0) continue;
    models[type->gpu_model].emplace(type->gpu_memory_bytes >> 20, std::pair(type, *slices));
  }
  core::Config config;
  for (const auto& [model, variants] : models) {
    const GpuSlices& first = variants.begin()->second.second;
    const bool uniform = std::all_of(variants.begin(), variants.end(), [&](const auto& v) {
      const GpuSlices& s = v.second.second;
      return s.slices == first.slices && s.resource_name == first.resource_name &&
             s.reserved_memory == first.reserved_memory;
    });
    for (const auto& [mib, variant] : variants) {
      const auto& [type, slices] = variant;
      core::SlicingProfile p;
      p.name = uniform ? model : model + "-" + std::to_string(mib / 1024) + "gb";
      p.match.models = {uniform ? ModelGlob(*type) : MemoryGlob(*type)};
      p.slices = slices.slices;
      p.resource_name = slices.resource_name;
      p.reserved_memory_bytes = slices.reserved_memory;
      config.profiles.push_back(std::move(p));
      if (uniform) break;
    }
  }
  GPUSLICE_RETURN_IF_ERROR(core::ValidateConfig(config));
  return config;
}

bool IsManagedOverlay(const kube::NodeOverlay& overlay) {
  auto it = overlay.labels.find(std::string(kManagedByLabel));
  return it != overlay.labels.end() && it->second == kManagedByValue;
}

}  // namespace gpuslice::plan
