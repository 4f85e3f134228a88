// gpuslice render: the manifests that make Karpenter provision for slices. For the NodePools in
// the given manifests and a slicing profile: the NodePools with the nvidia.com/gpu taint, the
// NodeOverlays declaring each instance type's slices, and the Helm values whose device plugin
// config advertises exactly those counts.
#include <filesystem>
#include <iostream>

#include "cli/output.h"
#include "cli/plan_inputs.h"
#include "cli/subcommands.h"
#include "io/file.h"
#include "plan/planner.h"
#include "plan/render.h"

namespace gpuslice::cli {
namespace {

constexpr const char* kNodePoolsFile = "nodepools.yaml";
constexpr const char* kNodeOverlaysFile = "nodeoverlays.yaml";
constexpr const char* kValuesFile = "values.yaml";

struct RenderFlags {
  std::vector<std::string> paths;
  SlicingFlags slicing;
  std::string output_dir;
  OutputFormat output = OutputFormat::kTable;
};

Status WriteFiles(const std::string& dir, const plan::Rendering& rendering) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) return Status::Unavailable(dir + ": " + error.message());
  const std::filesystem::path root(dir);
  for (const auto& [name, text] : {std::pair{kNodePoolsFile, &rendering.node_pools_yaml},
                                   std::pair{kNodeOverlaysFile, &rendering.node_overlays_yaml},
                                   std::pair{kValuesFile, &rendering.values_yaml}}) {
    GPUSLICE_RETURN_IF_ERROR(io::WriteFile((root / name).string(), *text));
  }
  return Status::Ok();
}

nlohmann::json ToJson(const plan::Rendering& rendering, const std::string& profile) {
  nlohmann::json types = nlohmann::json::array();
  for (const plan::RenderedType& t : rendering.types) {
    types.push_back({{"nodePool", t.node_pool},
                     {"instanceType", t.instance_type},
                     {"gpus", t.gpus},
                     {"gpuModel", t.gpu_model},
                     {"slicesPerGpu", t.slices_per_gpu},
                     {"sliceMemoryBytes", t.slice_memory},
                     {"resourceName", t.resource_name},
                     {"capacity", t.capacity}});
  }
  nlohmann::json overlays = nlohmann::json::array();
  for (const kube::NodeOverlay& o : rendering.overlays) overlays.push_back(o.name);
  return {{"slicing", profile},
          {"instanceTypes", types},
          {"nodeOverlays", overlays},
          {"files",
           {{kNodePoolsFile, rendering.node_pools_yaml},
            {kNodeOverlaysFile, rendering.node_overlays_yaml},
            {kValuesFile, rendering.values_yaml}}}};
}

void PrintTable(const plan::Rendering& rendering, const std::string& profile,
                const std::string& output_dir, std::ostream& out) {
  out << "slicing: " << profile << "\n\n";
  Table table({"NODEPOOL", "INSTANCE TYPE", "GPU", "GPUS", "SLICES/GPU", "SLICE MEMORY", "CAPACITY",
               "RESOURCE"});
  for (const plan::RenderedType& t : rendering.types) {
    table.AddRow({t.node_pool, t.instance_type, t.gpu_model, std::to_string(t.gpus),
                  std::to_string(t.slices_per_gpu), core::HumanBytes(t.slice_memory),
                  std::to_string(t.capacity), t.resource_name});
  }
  table.Print(out);
  out << "\n"
      << rendering.overlays.size() << " NodeOverlays, " << rendering.config.profiles.size()
      << " device plugin profiles.\n";
  if (output_dir.empty()) {
    out << "Pass --output-dir to write " << kNodePoolsFile << ", " << kNodeOverlaysFile << " and "
        << kValuesFile << ".\n";
    return;
  }
  const std::filesystem::path root(output_dir);
  out << "Wrote " << (root / kNodePoolsFile).string() << ", " << (root / kNodeOverlaysFile).string()
      << " and " << (root / kValuesFile).string() << ".\n"
      << "Apply them with:\n"
      << "  kubectl apply -f " << (root / kNodePoolsFile).string() << " -f "
      << (root / kNodeOverlaysFile).string() << "\n"
      << "  helm upgrade -i gpuslice deploy/helm/gpuslice -n gpuslice --create-namespace -f "
      << (root / kValuesFile).string() << "\n"
      << "Karpenter applies NodeOverlays only with its NodeOverlay feature gate on "
         "(settings.featureGates.nodeOverlay=true).\n";
}

int Run(const RenderFlags& flags) {
  Result<PlanInputs> inputs = LoadPlanInputs(flags.paths, flags.slicing);
  if (!inputs.ok()) {
    std::cerr << "gpuslice render: " << inputs.status().message() << "\n";
    return ExitCodeFor(inputs.status());
  }
  std::optional<plan::SlicingProfile> profile = inputs->profile;
  if (!profile) {
    Result<plan::SlicingProfile> fallback = plan::SlicingProfile::FromSliceCounts(
        std::to_string(plan::kDefaultSlices), inputs->catalog, flags.slicing.resource_name, 0);
    if (!fallback.ok()) {
      std::cerr << "gpuslice render: " << fallback.status().message() << "\n";
      return kExitUsage;
    }
    profile = *std::move(fallback);
  }
  Result<plan::Rendering> rendering =
      plan::Render(inputs->manifests.node_pools, inputs->catalog, *profile);
  if (!rendering.ok()) {
    std::cerr << "gpuslice render: " << rendering.status().message() << "\n";
    return ExitCodeFor(rendering.status());
  }
  if (!flags.output_dir.empty()) {
    Status written = WriteFiles(flags.output_dir, *rendering);
    if (!written.ok()) {
      std::cerr << "gpuslice render: " << written.message() << "\n";
      return ExitCodeFor(written);
    }
  }
  if (flags.output == OutputFormat::kTable) {
    PrintTable(*rendering, profile->description(), flags.output_dir, std::cout);
  } else {
    WriteDocument(ToJson(*rendering, profile->description()), flags.output, std::cout);
  }
  return kExitOk;
}

}  // namespace

Subcommand AddRenderCommand(CLI::App* root) {
  auto flags = std::make_shared<RenderFlags>();
  CLI::App* app = root->add_subcommand(
      "render",
      "The manifests that make Karpenter provision for slices: for the NodePools in the given "
      "manifests and a slicing profile, the NodePools with the nvidia.com/gpu taint, NodeOverlays "
      "declaring each instance type's slices (Karpenter's NodeOverlay feature gate), and Helm "
      "values whose device plugin config advertises exactly those counts. Without paths it "
      "renders the bundled examples' NodePools.");
  app->add_option("paths", flags->paths, "Manifest files or directories holding NodePools");
  AddSlicingFlags(app, &flags->slicing);
  app->add_option("--output-dir", flags->output_dir,
                  "Write nodepools.yaml, nodeoverlays.yaml and values.yaml into this directory");
  AddOutputOption(app, &flags->output);
  return {app, [flags] { return Run(*flags); }};
}

}  // namespace gpuslice::cli
