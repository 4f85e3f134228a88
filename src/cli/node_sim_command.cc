// gpuslice node-sim: the dry run of a slicing config. Runs the real device plugin on
// simulated GPUs, plays the kubelet for the pods in the given manifests, and prints what each
// container would get and which pods would not fit.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <iostream>

#include "cli/input_paths.h"
#include "cli/output.h"
#include "cli/paths.h"
#include "cli/subcommands.h"
#include "core/config.h"
#include "core/quantity.h"
#include "io/file.h"
#include "kube/manifest.h"
#include "nodesim/node_sim.h"
#include "sim/spec.h"

namespace gpuslice::embedded {
extern const std::string_view kNodeSimConfig;
extern const std::string_view kNodeSimPods;
}  // namespace gpuslice::embedded

namespace gpuslice::cli {
namespace {

constexpr const char* kDefaultSpec = "1xH100-80GB,2xT4";

struct NodeSimFlags {
  std::vector<std::string> manifests;
  std::vector<std::string> filenames;  // -f/--filename
  std::string config_path;
  std::string spec = kDefaultSpec;
  OutputFormat output = OutputFormat::kTable;
  bool verbose = false;
};

std::string Percent(int percent) { return std::to_string(percent) + "%"; }

nlohmann::json ToJson(const nodesim::NodeSimReport& report, const std::string& spec,
                      const std::string& config_source) {
  nlohmann::json node = {{"simulate", spec}, {"config", config_source}, {"gpus", nlohmann::json::array()}};
  for (const nodesim::NodeGpu& gpu : report.gpus) {
    node["gpus"].push_back({{"index", gpu.gpu.index},
                            {"uuid", gpu.gpu.uuid},
                            {"name", gpu.gpu.name},
                            {"memoryBytes", gpu.gpu.memory_bytes},
                            {"profile", gpu.profile},
                            {"resourceName", gpu.resource},
                            {"slices", gpu.slices},
                            {"sliceMemoryBytes", gpu.slice_memory_bytes},
                            {"sliceComputePercent", gpu.slice_compute_percent}});
  }
  nlohmann::json containers = nlohmann::json::array();
  for (const nodesim::ContainerPlacement& placement : report.placements) {
    nlohmann::json gpus = nlohmann::json::array();
    for (const nodesim::VisibleGpu& gpu : placement.gpus) {
      gpus.push_back({{"index", gpu.index},
                      {"uuid", gpu.uuid},
                      {"name", gpu.name},
                      {"slices", gpu.slices},
                      {"memoryLimitBytes", gpu.memory_limit_bytes},
                      {"computePercent", gpu.compute_percent}});
    }
    containers.push_back({{"pod", placement.pod},
                          {"container", placement.container},
                          {"resourceName", placement.resource},
                          {"deviceIDs", placement.device_ids},
                          {"gpus", gpus}});
  }
  nlohmann::json unplaced = nlohmann::json::array();
  for (const nodesim::UnplacedPod& pod : report.unplaced) {
    unplaced.push_back({{"pod", pod.pod}, {"reason", pod.reason}});
  }
  return {{"node", node},
          {"containers", containers},
          {"unschedulable", unplaced},
          {"podsWithoutGpus", report.pods_without_gpus},
          {"warnings", report.warnings}};
}

void PrintTable(const nodesim::NodeSimReport& report, const std::string& spec,
                const std::string& config_source, std::ostream& out) {
  out << "Node: simulated GPUs " << spec << ", config " << config_source << "\n\n";
  Table gpus({"GPU", "MODEL", "MEMORY", "PROFILE", "RESOURCE", "SLICES", "SLICE MEMORY",
              "SLICE COMPUTE"});
  for (const nodesim::NodeGpu& gpu : report.gpus) {
    gpus.AddRow({std::to_string(gpu.gpu.index), gpu.gpu.name, core::HumanBytes(gpu.gpu.memory_bytes),
                 gpu.profile.empty() ? "(default)" : gpu.profile, gpu.resource,
                 std::to_string(gpu.slices), core::HumanBytes(gpu.slice_memory_bytes),
                 Percent(gpu.slice_compute_percent)});
  }
  gpus.Print(out);
  out << "\n";
  Table containers({"POD", "CONTAINER", "RESOURCE", "SLICES", "GPU", "MEMORY LIMIT", "COMPUTE"});
  std::set<std::string> used_gpus;
  for (const nodesim::ContainerPlacement& placement : report.placements) {
    for (size_t i = 0; i < placement.gpus.size(); ++i) {
      const nodesim::VisibleGpu& gpu = placement.gpus[i];
      used_gpus.insert(gpu.uuid);
      containers.AddRow({i == 0 ? placement.pod : "", i == 0 ? placement.container : "",
                         i == 0 ? placement.resource : "", std::to_string(gpu.slices),
                         std::to_string(gpu.index) + " " + gpu.name,
                         core::HumanBytes(gpu.memory_limit_bytes), Percent(gpu.compute_percent)});
    }
  }
  containers.Print(out);
  if (!report.unplaced.empty()) {
    out << "\nPods that would not fit:\n";
    for (const nodesim::UnplacedPod& pod : report.unplaced) {
      out << "  " << pod.pod << ": " << pod.reason << "\n";
    }
  }
  out << "\n"
      << report.placements.size() << " container(s) placed on " << used_gpus.size() << " of "
      << report.gpus.size() << " GPU(s); " << report.unplaced.size()
      << " pod(s) would not fit; " << report.pods_without_gpus << " pod(s) request no GPU.\n";
  for (const std::string& warning : report.warnings) out << "warning: " << warning << "\n";
}

int RunNodeSim(const NodeSimFlags& flags) {
  spdlog::set_default_logger(spdlog::stderr_color_mt("gpuslice-node-sim"));
  spdlog::set_level(flags.verbose ? spdlog::level::info : spdlog::level::warn);

  // A bad spec is the user's input: say so before the simulated NVML fails to start on it.
  if (Result<sim::SimSpec> spec = sim::ParseSpec(flags.spec); !spec.ok()) {
    std::cerr << "gpuslice node-sim: --simulate: " << spec.status().message() << "\n";
    return kExitUsage;
  }

  std::string config_text(embedded::kNodeSimConfig);
  std::string config_source = "examples/node-sim/config.yaml (built in; --config for yours)";
  if (!flags.config_path.empty()) {
    Result<std::string> text = io::ReadFile(flags.config_path);
    if (!text.ok()) {
      std::cerr << "gpuslice node-sim: " << text.status().message() << "\n";
      return kExitUsage;
    }
    config_text = std::move(*text);
    config_source = flags.config_path;
  }
  Result<core::Config> config = core::ParseConfig(
      config_text, flags.config_path.empty() ? "examples/node-sim/config.yaml" : flags.config_path);
  if (!config.ok()) {
    std::cerr << "gpuslice node-sim: " << config.status().message() << "\n";
    return kExitUsage;
  }

  Result<std::vector<std::string>> paths = JoinInputPaths(flags.manifests, flags.filenames);
  if (!paths.ok()) {
    std::cerr << "gpuslice node-sim: " << paths.status().message() << "\n";
    return kExitUsage;
  }
  kube::Manifests manifests;
  if (paths->empty()) {
    Status parsed = kube::ParseManifests(embedded::kNodeSimPods, "examples/node-sim/pods.yaml",
                                         &manifests);
    if (!parsed.ok()) {
      std::cerr << "gpuslice node-sim: " << parsed.message() << "\n";
      return kExitFailure;
    }
  } else {
    Result<kube::Manifests> loaded = kube::LoadManifests(*paths);
    if (!loaded.ok()) {
      std::cerr << "gpuslice node-sim: " << loaded.status().message() << "\n";
      return kExitUsage;
    }
    manifests = std::move(*loaded);
  }

  nodesim::NodeSimOptions options;
  options.config = std::move(*config);
  options.gpu_spec = flags.spec;
  options.nvml_library = SiblingLibDir() + "/libgpuslice-sim-nvml.so";
  options.library_dir = SiblingLibDir();
  Result<std::unique_ptr<nodesim::NodeSim>> node = nodesim::NodeSim::Start(std::move(options));
  if (!node.ok()) {
    std::cerr << "gpuslice node-sim: " << node.status().message() << "\n";
    return node.status().code() == StatusCode::kInvalidArgument ? kExitUsage : kExitFailure;
  }
  nodesim::NodeSimReport report = (*node)->Run(manifests);
  report.warnings.insert(report.warnings.begin(), manifests.warnings.begin(),
                         manifests.warnings.end());
  if (flags.output == OutputFormat::kTable) {
    PrintTable(report, flags.spec, config_source, std::cout);
  } else {
    WriteDocument(ToJson(report, flags.spec, config_source), flags.output, std::cout);
  }
  return kExitOk;
}

}  // namespace

Subcommand AddNodeSimCommand(CLI::App* root) {
  auto flags = std::make_shared<NodeSimFlags>();
  CLI::App* app = root->add_subcommand(
      "node-sim",
      "Dry-run a slicing config: run the device plugin on simulated GPUs, play the kubelet for "
      "the pods in MANIFEST files or directories (Pod, Deployment, StatefulSet, ReplicaSet, Job, "
      "CronJob), and show each container's slices, GPU, memory limit and compute share, and the "
      "pods that would not fit. Without manifests (or -f) it runs the built-in example.");
  app->add_option("manifests", flags->manifests, "Manifest files or directories (YAML)");
  AddFilenameOption(app, &flags->filenames);
  app->add_option("--config", flags->config_path,
                  "Device plugin config (version: v1); default: the built-in example");
  app->add_option("--simulate", flags->spec, "Simulated GPUs, e.g. 2xH100-80GB,1xT4 or a YAML spec")
      ->capture_default_str();
  AddOutputOption(app, &flags->output);
  app->add_flag("-v,--verbose", flags->verbose, "Show the plugin's log on stderr");
  return {app, [flags] { return RunNodeSim(*flags); }};
}

}  // namespace gpuslice::cli
