// gpuslice plan: what slicing saves. Provisions the pods of the given manifests on their Karpenter
// NodePools with whole GPUs, with slices, and at the optimum, and prints nodes, GPUs and cost
// side by side. Without paths it plans the bundled examples.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "cli/input_paths.h"
#include "cli/output.h"
#include "cli/plan_inputs.h"
#include "cli/subcommands.h"
#include "core/quantity.h"
#include "kube/manifest.h"
#include "plan/dra_packing.h"
#include "plan/planner.h"

namespace gpuslice::cli {
namespace {

// AWS prices a month as 730 hours.
constexpr double kHoursPerMonth = 730;

struct PlanFlags {
  std::vector<std::string> paths;
  std::vector<std::string> filenames;  // -f/--filename
  SlicingFlags slicing;
  bool no_optimal = false;
  size_t ilp_max_pods = 500;
  double time_limit = 10;
  OutputFormat output = OutputFormat::kTable;
};

// Rounds to `digits` decimals; dividing by an exact power of ten keeps JSON free of float noise.
double Round(double value, int digits) {
  const double scale = std::pow(10.0, digits);
  return std::round(value * scale) / scale;
}

// Counts are whole except in an LP bound.
nlohmann::json Number(double value) {
  // Whole values within a double's exact integers print as integers; llround is undefined
  // past int64.
  if (std::fabs(value) < 9e15 && std::fabs(value - std::round(value)) < 1e-9) {
    return std::llround(value);
  }
  return Round(value, 6);
}

std::string Money(double value) { return FormatFixed(value, 2); }

std::string Count(double value) {
  // Whole counts print without decimals, however large (llround would overflow past 2^63).
  return FormatFixed(value, std::fabs(value - std::round(value)) < 1e-6 ? 0 : 2);
}

std::string Memory(double bytes) {
  return core::HumanBytes(static_cast<uint64_t>(std::llround(bytes)));
}

const plan::Scenario* Whole(const plan::Plan& plan) { return &plan.scenarios.front(); }

bool Comparable(const plan::Scenario& s, const plan::Scenario& whole) {
  return s.pods_placed >= whole.pods_placed;
}

nlohmann::json ToJson(const plan::Plan& plan, const plan::Catalog& catalog) {
  nlohmann::json scenarios = nlohmann::json::array();
  const double whole_cost = Whole(plan)->cost_per_hour;
  for (const plan::Scenario& s : plan.scenarios) {
    nlohmann::json nodes = nlohmann::json::array();
    for (const plan::NodeGroup& g : s.nodes) {
      nodes.push_back({{"nodePool", g.node_pool},
                       {"instanceType", g.instance_type},
                       {"count", Number(g.count)},
                       {"costPerHour", Round(g.cost_per_hour, 6)},
                       {"gpusPerNode", g.gpus_per_node},
                       {"gpuModel", g.gpu_model},
                       {"slicesPerGpu", g.slices_per_gpu}});
    }
    nlohmann::json unschedulable = nlohmann::json::array();
    for (const plan::UnschedulablePod& pod : s.unschedulable) {
      unschedulable.push_back({{"pod", pod.pod}, {"reason", pod.reason}});
    }
    nlohmann::json scenario = {
        {"name", s.name},
        {"costPerHour", Round(s.cost_per_hour, 6)},
        {"costPerMonth", Round(s.cost_per_hour * kHoursPerMonth, 4)},
        {"gpus", Number(s.gpus)},
        {"nodeCount", Number(s.node_count)},
        {"nodes", nodes},
        {"podsPlaced", s.pods_placed},
        {"gpuMemoryRequestedBytes", std::llround(s.gpu_memory_requested)},
        {"gpuMemoryProvisionedBytes", std::llround(s.gpu_memory_provisioned)},
        {"savingPerHour", nullptr},
        {"savingPercent", nullptr},
        {"unschedulable", unschedulable}};
    // A saving only means something if the scenario places the pods the whole one does.
    if (Comparable(s, *Whole(plan))) {
      scenario["savingPerHour"] = Round(whole_cost - s.cost_per_hour, 6);
      scenario["savingPercent"] =
          whole_cost > 0 ? Round(100 * (whole_cost - s.cost_per_hour) / whole_cost, 4) : 0.0;
    }
    if (s.name == "optimal") {
      scenario["lowerBound"] = Round(s.lower_bound, 6);
      scenario["provenOptimal"] = s.proven_optimal;
      scenario["lowerBoundOnly"] = s.lower_bound_only;
    }
    scenarios.push_back(std::move(scenario));
  }
  nlohmann::json result = {
      {"catalog",
       {{"source", catalog.source}, {"region", catalog.region}, {"priceDate", catalog.price_date}}},
      {"pods", plan.pods},
      {"slicing", plan.slicing},
      {"sliceResource", plan.slice_resource},
      {"scenarios", scenarios},
      {"warnings", plan.warnings}};
  if (plan.dra != nullptr) {
    nlohmann::json packings = nlohmann::json::array();
    for (const plan::DraPacking& packing : plan.dra->packings) {
      nlohmann::json too_big = nlohmann::json::array();
      for (const plan::UnschedulablePod& pod : packing.too_big) {
        too_big.push_back({{"pod", pod.pod}, {"reason", pod.reason}});
      }
      packings.push_back({{"gpuModel", packing.gpu_model},
                          {"gpuMemoryBytes", packing.gpu_memory_bytes},
                          {"reservedMemoryBytes", packing.reserved_memory_bytes},
                          {"gpus", packing.gpus},
                          {"shares", packing.shares},
                          {"memoryBytes", packing.memory_bytes},
                          {"tooBig", too_big}});
    }
    result["dra"] = {{"deviceClass", plan::kDraDeviceClass},
                     {"pods", plan.dra->pods},
                     {"shares", plan.dra->shares},
                     {"karpenterProvisions", false},
                     {"packings", packings}};
  }
  return result;
}

void PrintTable(const plan::Plan& plan, const plan::Catalog& catalog, const std::string& input,
                std::ostream& out) {
  out << "gpuslice plan: " << plan.pods << " pods from " << input << "\n";
  out << "catalog: " << CatalogDescription(catalog) << "\n";
  out << "slicing: " << plan.slicing << "\n\n";

  const plan::Scenario& whole = *Whole(plan);
  Table summary({"SCENARIO", "NODES", "GPUS", "$/HOUR", "$/MONTH", "SAVING", "GPU MEMORY REQUESTED",
                 "GPU MEMORY PROVISIONED", "PODS PLACED"});
  bool bound_only = false, unproven = false;
  for (const plan::Scenario& s : plan.scenarios) {
    std::string name = s.name;
    std::string cost = Money(s.cost_per_hour);
    if (s.lower_bound_only) {
      name += " (LP bound)";
      cost = ">= " + cost;
      bound_only = true;
    } else if (s.name == "optimal" && !s.proven_optimal) {
      name += " (best found)";
      unproven = true;
    }
    const double saving = whole.cost_per_hour - s.cost_per_hour;
    std::string saving_text = "-";
    if (&s != &whole && !Comparable(s, whole)) {
      saving_text = "- (fewer pods)";
    } else if (&s != &whole && whole.cost_per_hour > 0) {
      saving_text = "$" + Money(saving * kHoursPerMonth) + "/mo (" +
                    std::to_string(std::lround(100 * saving / whole.cost_per_hour)) + "%)";
    }
    summary.AddRow({name, Count(s.node_count), Count(s.gpus), cost,
                    Money(s.cost_per_hour * kHoursPerMonth), saving_text,
                    Memory(s.gpu_memory_requested), Memory(s.gpu_memory_provisioned),
                    std::to_string(s.pods_placed) + "/" + std::to_string(plan.pods)});
  }
  summary.Print(out);
  if (bound_only) {
    out << "\nThe optimum is a lower bound from the linear relaxation: too many pods for the "
           "integer program (--ilp-max-pods).\n";
  }
  if (unproven) {
    const plan::Scenario& optimal = plan.scenarios.back();
    out << "\nThe optimum is the best plan found; none costs less than $"
        << Money(optimal.lower_bound) << "/hour.\n";
  }

  out << "\n";
  Table nodes(
      {"SCENARIO", "NODEPOOL", "INSTANCE TYPE", "COUNT", "GPU", "GPUS", "SLICES/GPU", "$/HOUR"});
  for (const plan::Scenario& s : plan.scenarios) {
    for (const plan::NodeGroup& g : s.nodes) {
      nodes.AddRow({s.name, g.node_pool, g.instance_type, Count(g.count), g.gpu_model,
                    Count(g.count * g.gpus_per_node), std::to_string(g.slices_per_gpu),
                    Money(g.cost_per_hour)});
    }
  }
  nodes.Print(out);

  bool any_unschedulable = false;
  Table unschedulable({"SCENARIO", "POD", "REASON"});
  for (const plan::Scenario& s : plan.scenarios) {
    for (const plan::UnschedulablePod& pod : s.unschedulable) {
      unschedulable.AddRow({s.name, pod.pod, pod.reason});
      any_unschedulable = true;
    }
  }
  if (any_unschedulable) {
    out << "\nUnschedulable pods:\n";
    unschedulable.Print(out);
  }
  if (plan.dra != nullptr) {
    out << "\nDRA shares (DeviceClass " << plan::kDraDeviceClass << "): " << plan.dra->pods
        << " pods, " << plan.dra->shares
        << " shares; Karpenter cannot provision nodes for them yet. Packed by memory and compute "
           "as kube-scheduler allocates them, they fill:\n";
    for (const plan::DraPacking& packing : plan.dra->packings) {
      out << "  " << packing.gpu_model << " (" << core::HumanBytes(packing.gpu_memory_bytes);
      if (packing.reserved_memory_bytes > 0) {
        out << ", " << core::HumanBytes(packing.reserved_memory_bytes) << " reserved";
      }
      out << "): " << packing.gpus << " GPUs for " << packing.shares << " shares ("
          << core::HumanBytes(packing.memory_bytes) << ")";
      if (!packing.too_big.empty()) out << "; " << packing.too_big.size() << " shares too big";
      out << "\n";
    }
  }
  if (!plan.warnings.empty()) {
    out << "\nWarnings:\n";
    for (const std::string& warning : plan.warnings) out << "  " << warning << "\n";
  }
}

int Run(const PlanFlags& flags) {
  Result<std::vector<std::string>> paths = JoinInputPaths(flags.paths, flags.filenames);
  if (!paths.ok()) {
    std::cerr << "gpuslice plan: " << paths.status().message() << "\n";
    return kExitUsage;
  }
  Result<PlanInputs> inputs = LoadPlanInputs(*paths, flags.slicing);
  if (!inputs.ok()) {
    std::cerr << "gpuslice plan: " << inputs.status().message() << "\n";
    return ExitCodeFor(inputs.status());
  }
  plan::PlanOptions options;
  options.catalog = &inputs->catalog;
  options.profile = inputs->profile;
  // The driver's config packs the DRA claims as the driver publishes and rounds them.
  if (inputs->profile && inputs->profile->dra_policy() != nullptr) {
    options.dra_policy = *inputs->profile->dra_policy();
  }
  options.optimize = !flags.no_optimal;
  options.optimizer.max_ilp_pods = flags.ilp_max_pods;
  options.optimizer.time_limit_seconds = flags.time_limit;
  ProgressLine progress;
  options.progress = [&](std::string_view line) { progress.Update(line); };
  Result<plan::Plan> plan = plan::MakePlan(inputs->manifests, options);
  progress.Clear();
  if (!plan.ok()) {
    std::cerr << "gpuslice plan: " << plan.status().message() << "\n";
    return ExitCodeFor(plan.status());
  }
  if (flags.output == OutputFormat::kTable) {
    PrintTable(*plan, inputs->catalog, inputs->description, std::cout);
  } else {
    WriteDocument(ToJson(*plan, inputs->catalog), flags.output, std::cout);
  }
  return kExitOk;
}

}  // namespace

Subcommand AddPlanCommand(CLI::App* root) {
  auto flags = std::make_shared<PlanFlags>();
  CLI::App* app = root->add_subcommand(
      "plan",
      "What slicing saves: provisions the pods of the given manifests on their Karpenter GPU "
      "NodePools as Karpenter does today (whole GPUs), with slices (as Karpenter provisions them "
      "with the NodeOverlays from `gpuslice render`), and at the optimum (an integer program), "
      "and compares nodes, GPUs and $/hour. Without paths (or -f) it plans the bundled examples.");
  app->add_option("paths", flags->paths,
                  "Manifest files or directories: workloads (Pod, Deployment, StatefulSet, "
                  "ReplicaSet, Job, CronJob, DaemonSet), NodePools and NodeOverlays");
  AddFilenameOption(app, &flags->filenames);
  AddSlicingFlags(app, &flags->slicing);
  app->add_flag("--no-optimal", flags->no_optimal, "Skip the optimum");
  app->add_option("--ilp-max-pods", flags->ilp_max_pods,
                  "Above this many pods the optimum is only the LP lower bound")
      ->default_val(500)
      ->check(NumberAtLeast(0));
  app->add_option(
         "--time-limit", flags->time_limit,
         "Seconds the integer program may search before it settles for the best plan found")
      ->default_val(10)
      ->check(NumberAbove(0));
  AddOutputOption(app, &flags->output);
  return {app, [flags] { return Run(*flags); }};
}

}  // namespace gpuslice::cli
