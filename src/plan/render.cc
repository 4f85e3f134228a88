#include "plan/render.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <set>

#include "core/yaml_load.h"
#include "kube/writer.h"
#include "plan/planner.h"

namespace gpuslice::plan {
namespace {

constexpr std::string_view kGpuTaintKey = "nvidia.com/gpu";

std::string Indent(std::string_view text, std::string_view prefix) {
  std::string out;
  size_t start = 0;
  while (start < text.size()) {
    const size_t end = text.find('\n', start);
    const std::string_view line =
        text.substr(start, end == std::string_view::npos ? end : end - start);
    if (!line.empty()) out += std::string(prefix) + std::string(line);
    out += "\n";
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return out;
}

}  // namespace

Result<Rendering> Render(const std::vector<kube::NodePool>& pools, const Catalog& catalog,
                         const SlicingProfile& profile) {
  if (pools.empty()) return Status::InvalidArgument("no NodePool (karpenter.sh/v1) to render for");
  Rendering out;
  out.node_pools_yaml =
      "# NodePools written by gpuslice render: GPU nodes carry the nvidia.com/gpu taint.\n";
  out.node_overlays_yaml = "# NodeOverlays written by gpuslice render (" + profile.description() +
                           "):\n# each tells Karpenter how many slices an instance type's node "
                           "offers. Karpenter\n# applies them only with its NodeOverlay feature "
                           "gate on.\n";
  std::vector<const InstanceType*> all_types;
  std::set<std::string> seen;
  const kube::Taint gpu_taint{std::string(kGpuTaintKey), "true", kube::TaintEffect::kNoSchedule};
  for (const kube::NodePool& pool : pools) {
    Result<std::string> yaml = kube::NodePoolYamlWithTaint(pool, gpu_taint);
    if (!yaml.ok()) return yaml.status();
    out.node_pools_yaml += "---\n" + *yaml;
    const std::vector<const InstanceType*> types = NodePoolTypes(catalog, pool);
    Result<std::vector<kube::NodeOverlay>> overlays = SliceOverlays(pool, types, profile);
    if (!overlays.ok()) return overlays.status();
    for (const kube::NodeOverlay& overlay : *overlays) {
      out.node_overlays_yaml += "---\n" + kube::NodeOverlayYaml(overlay);
      out.overlays.push_back(overlay);
    }
    for (const InstanceType* type : types) {
      Result<GpuSlices> slices = profile.For(*type);
      if (!slices.ok()) return slices.status();
      if (!slices->sliced() || type->gpu_count == 0) continue;
      out.types.push_back({pool.name, type->name, type->gpu_count, type->gpu_model, slices->slices,
                           slices->SliceMemory(type->gpu_memory_bytes), slices->resource_name,
                           int64_t{type->gpu_count} * slices->slices, type->price_per_hour});
      if (seen.insert(type->name).second) all_types.push_back(type);
    }
  }
  Result<core::Config> config = PluginConfig(all_types, profile);
  if (!config.ok()) return config.status();
  out.config = *std::move(config);
  out.values_yaml =
      "# Helm values for deploy/helm/gpuslice, written by gpuslice render (" +
      profile.description() +
      "):\n# the device plugin advertises exactly the slices the NodeOverlays declare to "
      "Karpenter.\n"
      "config:\n" +
      Indent(core::FormatConfig(out.config), "  ");
  if (out.overlays.empty()) {
    return Status::InvalidArgument("the slicing profile (" + profile.description() +
                                   ") slices no GPU instance type of the NodePools");
  }
  return out;
}

Result<core::Config> ReadPluginConfig(std::string_view text, std::string_view file_name) {
  Result<YAML::Node> root = core::LoadYaml(text, file_name);
  if (!root.ok()) return root.status();
  try {
    if (root->IsMap() && (*root)["config"] && !(*root)["version"]) {
      YAML::Emitter emitter;
      emitter << (*root)["config"];
      return core::ParseConfig(emitter.c_str(), std::string(file_name) + " (its config: block)");
    }
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(std::string(file_name) + ": " + e.msg);
  }
  return core::ParseConfig(text, file_name);
}

}  // namespace gpuslice::plan
