#include "cli/plan_inputs.h"

#include <unistd.h>

#include <iostream>

#include "cli/command.h"
#include "core/quantity.h"
#include "core/slicing.h"
#include "io/file.h"
#include "kube/manifest.h"
#include "plan/planner.h"
#include "plan/render.h"

namespace gpuslice::embedded {
extern const std::string_view kExampleGpuDeployment;
extern const std::string_view kExampleGpuPod;
extern const std::string_view kExampleNodePool;
extern const std::string_view kExampleInferenceDeployments;
extern const std::string_view kExampleInferenceNodePool;
extern const std::string_view kExampleNodeOverlays;
}  // namespace gpuslice::embedded

namespace gpuslice::cli {
namespace {

struct BundledFile {
  std::string_view path;
  const std::string_view* text;
};

// The manifests under examples/ that `gpuslice plan` plans when given no paths.
const BundledFile kBundledExamples[] = {
    {"examples/gpu-example-deployment.yaml", &embedded::kExampleGpuDeployment},
    {"examples/gpu-example-pod.yaml", &embedded::kExampleGpuPod},
    {"examples/nodepool-gpu.yaml", &embedded::kExampleNodePool},
    {"examples/inference/deployments.yaml", &embedded::kExampleInferenceDeployments},
    {"examples/inference/nodepool.yaml", &embedded::kExampleInferenceNodePool},
    {"examples/gpuslice/nodeoverlays.yaml", &embedded::kExampleNodeOverlays},
};

Result<uint64_t> Bytes(std::string_view flag, const std::string& text) {
  Result<core::Quantity> quantity = core::Quantity::Parse(text);
  if (!quantity.ok()) return quantity.status().WithContext(std::string(flag));
  Result<int64_t> bytes = quantity->Value();
  if (!bytes.ok() || *bytes < 0) {
    return Status::InvalidArgument(std::string(flag) + ": \"" + text +
                                   "\" is not an amount of memory");
  }
  return static_cast<uint64_t>(*bytes);
}

Result<std::optional<plan::SlicingProfile>> Profile(const SlicingFlags& flags,
                                                    const plan::Catalog& catalog) {
  GPUSLICE_RETURN_IF_ERROR(
      core::ValidateResourceName(flags.resource_name).WithContext("--resource-name"));
  Result<uint64_t> reserved = Bytes("--reserved-memory", flags.reserved_memory);
  if (!reserved.ok()) return reserved.status();
  // Either flag changes the slicing, so neither is ever dropped without a word.
  const bool tuned = *reserved != 0 || flags.resource_name != plan::kSliceResource;
  if (!flags.config.empty()) {
    if (tuned) {
      return Status::InvalidArgument(
          "--reserved-memory and --resource-name do not apply with --config: set reservedMemory "
          "and resourceName in its profiles");
    }
    Result<std::string> text = io::ReadFile(flags.config);
    if (!text.ok()) return text.status();
    Result<core::Config> config = plan::ReadPluginConfig(*text, flags.config);
    if (!config.ok()) return config.status();
    return std::optional(plan::SlicingProfile::FromConfig(*std::move(config), flags.config));
  }
  Result<plan::SlicingProfile> profile = Status::NotFound("no slicing flag");
  if (!flags.slice_memory.empty()) {
    Result<uint64_t> bytes = Bytes("--slice-memory", flags.slice_memory);
    if (!bytes.ok()) return bytes.status();
    profile = plan::SlicingProfile::FromSliceMemory(*bytes, flags.resource_name, *reserved);
  } else if (!flags.slices.empty() || tuned) {
    // Without --slices, the default count with the reserved memory and resource name given.
    const std::string slices =
        flags.slices.empty() ? std::to_string(plan::kDefaultSlices) : flags.slices;
    profile = plan::SlicingProfile::FromSliceCounts(slices, catalog, flags.resource_name,
                                                    *reserved);
  } else {
    return std::optional<plan::SlicingProfile>();
  }
  if (!profile.ok()) return profile.status();
  return std::optional(*std::move(profile));
}

}  // namespace

void AddSlicingFlags(CLI::App* app, SlicingFlags* flags) {
  app->add_option("--catalog", flags->catalog,
                  "Instance catalog CSV (the built-in catalog's columns); default: the built-in "
                  "AWS us-east-1 catalog");
  CLI::Option* slices =
      app->add_option("--slices", flags->slices,
                      "Slices per GPU: one count for every GPU (\"4\") or per catalog GPU model "
                      "(\"v100=4,a10g=2\", \"*\" for the others)");
  CLI::Option* memory = app->add_option(
      "--slice-memory", flags->slice_memory,
      "Split every GPU into slices of at least this much memory (e.g. 10Gi); pods that state "
      "gpuslice.io/gpu-memory ask for as many slices as that memory needs");
  CLI::Option* config = app->add_option(
      "--config", flags->config,
      "The device plugin's config (version: v1) or Helm values holding it under config:");
  slices->excludes(memory)->excludes(config);
  memory->excludes(config);
  app->add_option("--resource-name", flags->resource_name,
                  "Resource the slices are advertised as (with --slices or --slice-memory; "
                  "alone, with the default " +
                      std::to_string(plan::kDefaultSlices) + " slices per GPU)")
      ->default_str(std::string(plan::kSliceResource));
  app->add_option("--reserved-memory", flags->reserved_memory,
                  "GPU memory kept back before a GPU is split (e.g. 512Mi); less than every "
                  "GPU's memory")
      ->default_str("0");
}

Result<PlanInputs> LoadPlanInputs(const std::vector<std::string>& paths,
                                  const SlicingFlags& flags) {
  PlanInputs inputs;
  if (flags.catalog.empty()) {
    inputs.catalog = plan::BuiltinCatalog();
  } else {
    Result<std::string> text = io::ReadFile(flags.catalog);
    if (!text.ok()) return text.status();
    Result<plan::Catalog> catalog = plan::ParseCatalog(*text, flags.catalog);
    if (!catalog.ok()) return catalog.status();
    inputs.catalog = *std::move(catalog);
  }
  if (paths.empty()) {
    for (const BundledFile& file : kBundledExamples) {
      GPUSLICE_RETURN_IF_ERROR(kube::ParseManifests(*file.text, file.path, &inputs.manifests));
    }
    inputs.description = "the bundled examples (examples/)";
  } else {
    Result<kube::Manifests> manifests = kube::LoadManifests(paths);
    if (!manifests.ok()) return manifests.status();
    inputs.manifests = *std::move(manifests);
    inputs.description = paths.size() == 1 ? paths[0] : std::to_string(paths.size()) + " paths";
  }
  Result<std::optional<plan::SlicingProfile>> profile = Profile(flags, inputs.catalog);
  if (!profile.ok()) return profile.status();
  inputs.profile = *std::move(profile);
  return inputs;
}

std::string CatalogDescription(const plan::Catalog& catalog) {
  std::string out =
      catalog.source + " (" + std::to_string(catalog.types.size()) + " instance types";
  if (!catalog.region.empty()) out += ", " + catalog.region;
  if (!catalog.price_date.empty()) out += ", on-demand prices of " + catalog.price_date;
  return out + ")";
}

int ExitCodeFor(const Status& status) {
  return status.code() == StatusCode::kInvalidArgument || status.code() == StatusCode::kNotFound
             ? kExitUsage
             : kExitFailure;
}

ProgressLine::ProgressLine() : enabled_(::isatty(STDERR_FILENO) == 1) {}

void ProgressLine::Update(std::string_view line) {
  if (!enabled_) return;
  std::string text(line.substr(0, 100));
  const size_t width = text.size();
  if (width < width_) text += std::string(width_ - width, ' ');
  width_ = width;
  std::cerr << "\r" << text << std::flush;
}

void ProgressLine::Clear() {
  if (!enabled_ || width_ == 0) return;
  std::cerr << "\r" << std::string(width_, ' ') << "\r" << std::flush;
  width_ = 0;
}

}  // namespace gpuslice::cli
