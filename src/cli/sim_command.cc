// gpuslice sim: create and inspect a simulated node's GPUs, and inject what real GPUs do to
// the programs using them (XID errors, falling off the bus, coming back).
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <memory>
#include <string>

#include "cli/output.h"
#include "cli/subcommands.h"
#include "core/quantity.h"
#include "sim/environment.h"
#include "sim/models.h"
#include "sim/spec.h"
#include "sim/state.h"

namespace gpuslice::cli {
namespace {

struct SimFlags {
  std::string state;
  std::string spec;
  std::string gpu;
  uint64_t xid = 0;
  bool force = false;
  OutputFormat format = OutputFormat::kTable;
};

int Fail(const Status& status) {
  std::cerr << "gpuslice sim: " << status.message() << '\n';
  const bool usage = status.code() == StatusCode::kInvalidArgument ||
                     status.code() == StatusCode::kNotFound ||
                     status.code() == StatusCode::kAlreadyExists ||
                     status.code() == StatusCode::kFailedPrecondition;
  return usage ? kExitUsage : kExitFailure;
}

// --state, else $GPUSLICE_SIM_STATE: the flag always wins, whichever subcommand runs.
Result<std::string> StatePath(const SimFlags& flags) {
  if (!flags.state.empty()) return flags.state;
  const char* env = std::getenv(std::string(sim::kStateEnv).c_str());
  if (env != nullptr && *env != '\0') return std::string(env);
  return Status::InvalidArgument("no state file: pass --state FILE or set " +
                                 std::string(sim::kStateEnv));
}

Result<std::unique_ptr<sim::SimState>> OpenState(const SimFlags& flags) {
  Result<std::string> path = StatePath(flags);
  if (!path.ok()) return path.status();
  return sim::SimState::Open(*path);
}

// A GPU named by index or UUID.
Result<int> FindGpu(const sim::SimState& state, const std::string& name) {
  int index = -1;
  const auto [end, error] = std::from_chars(name.data(), name.data() + name.size(), index);
  if (error == std::errc() && end == name.data() + name.size()) {
    if (index >= 0 && index < state.gpu_count()) return index;
  } else {
    for (int i = 0; i < state.gpu_count(); ++i) {
      if (state.gpu(i).uuid == name) return i;
    }
  }
  return Status::InvalidArgument("--gpu '" + name + "': no such simulated GPU (the node has " +
                                 std::to_string(state.gpu_count()) +
                                 "; give an index or a UUID, see gpuslice sim show)");
}

std::string Percent(double value) {
  const long rounded = std::lround(value);
  return std::to_string(rounded) + "%";
}

std::string Milliseconds(uint64_t ns) {
  return FormatFixed(static_cast<double>(ns) / 1e6, 1) + "ms";
}

nlohmann::json Describe(sim::SimState& state) {
  nlohmann::json document = {{"state", state.path()},
                             {"spec", state.spec_text()},
                             {"driverVersion", state.driver_version()},
                             {"cudaVersion", state.cuda_version()},
                             {"gpus", nlohmann::json::array()}};
  for (int i = 0; i < state.gpu_count(); ++i) {
    const sim::GpuSpec& gpu = state.gpu(i);
    const sim::GpuUsage usage = state.Usage(i);
    nlohmann::json processes = nlohmann::json::array();
    for (const sim::ProcessUsage& process : usage.processes) {
      processes.push_back({{"pid", process.pid},
                           {"command", process.command},
                           {"running", process.running},
                           {"memoryBytes", process.memory_bytes},
                           {"busyNs", process.busy_ns},
                           {"contexts", process.contexts}});
    }
    document["gpus"].push_back(
        {{"index", i},
         {"uuid", gpu.uuid},
         {"name", gpu.name},
         {"model", gpu.model},
         {"memoryBytes", gpu.memory_bytes},
         {"memoryUsedBytes", usage.memory_used},
         {"utilizationPercent", usage.utilization_percent},
         {"busyNs", usage.busy_ns},
         {"lost", usage.lost},
         {"xids", state.LatestXidSequence(i)},
         {"minor", gpu.minor},
         {"pciBusId", gpu.pci_bus_id},
         {"numaNode", gpu.numa_node},
         {"computeCapability", std::to_string(gpu.cc_major) + "." + std::to_string(gpu.cc_minor)},
         {"kernelDuration", sim::FormatDuration(gpu.kernel_duration_ns)},
         {"processes", processes}});
  }
  return document;
}

void PrintTables(const nlohmann::json& document) {
  std::cout << "state " << document["state"].get<std::string>() << "  spec '"
            << document["spec"].get<std::string>() << "'  driver "
            << document["driverVersion"].get<std::string>() << "  CUDA "
            << document["cudaVersion"].get<int>() / 1000 << "."
            << document["cudaVersion"].get<int>() % 1000 / 10 << "\n\n";
  Table gpus({"GPU", "UUID", "NAME", "MEMORY", "USED", "UTIL", "HEALTH", "XIDS", "MINOR",
              "PCI BUS ID", "NUMA"});
  Table processes({"GPU", "PID", "COMMAND", "STATE", "MEMORY", "KERNEL TIME"});
  for (const nlohmann::json& gpu : document["gpus"]) {
    const std::string index = std::to_string(gpu["index"].get<int>());
    gpus.AddRow(
        {index, gpu["uuid"], gpu["name"], core::HumanBytes(gpu["memoryBytes"].get<uint64_t>()),
         core::HumanBytes(gpu["memoryUsedBytes"].get<uint64_t>()),
         Percent(gpu["utilizationPercent"].get<double>()), gpu["lost"].get<bool>() ? "lost" : "ok",
         std::to_string(gpu["xids"].get<uint64_t>()), std::to_string(gpu["minor"].get<int>()),
         gpu["pciBusId"],
         gpu["numaNode"].get<int>() < 0 ? "-" : std::to_string(gpu["numaNode"].get<int>())});
    for (const nlohmann::json& process : gpu["processes"]) {
      processes.AddRow({index, std::to_string(process["pid"].get<int>()), process["command"],
                        process["running"].get<bool>() ? "running" : "exited",
                        core::HumanBytes(process["memoryBytes"].get<uint64_t>()),
                        Milliseconds(process["busyNs"].get<uint64_t>())});
    }
  }
  gpus.Print(std::cout);
  std::cout << '\n';
  if (document["gpus"].empty() ||
      std::all_of(document["gpus"].begin(), document["gpus"].end(),
                  [](const nlohmann::json& gpu) { return gpu["processes"].empty(); })) {
    std::cout << "no process has used the GPUs yet\n";
  } else {
    processes.Print(std::cout);
  }
}

int Show(const SimFlags& flags) {
  Result<std::unique_ptr<sim::SimState>> state = OpenState(flags);
  if (!state.ok()) return Fail(state.status());
  const nlohmann::json document = Describe(**state);
  if (flags.format == OutputFormat::kTable) {
    PrintTables(document);
  } else {
    WriteDocument(document, flags.format, std::cout);
  }
  return kExitOk;
}

int Create(const SimFlags& flags) {
  Result<sim::SimSpec> spec = sim::ParseSpec(flags.spec);
  if (!spec.ok()) return Fail(spec.status());
  Result<std::string> path = StatePath(flags);
  if (!path.ok()) return Fail(path.status());
  Result<std::unique_ptr<sim::SimState>> state =
      sim::SimState::Create(*path, *spec, flags.spec, flags.force);
  if (!state.ok()) {
    if (state.status().code() == StatusCode::kAlreadyExists) {
      return Fail(Status::AlreadyExists(state.status().message() + "; pass --force to replace it"));
    }
    return Fail(state.status());
  }
  const nlohmann::json document = Describe(**state);
  if (flags.format == OutputFormat::kTable) {
    PrintTables(document);
  } else {
    WriteDocument(document, flags.format, std::cout);
  }
  return kExitOk;
}

// Runs `change` on the GPU --gpu names and reports what happened.
int ChangeGpu(const SimFlags& flags, const std::string& what,
              const std::function<Status(sim::SimState&, int)>& change) {
  Result<std::unique_ptr<sim::SimState>> state = OpenState(flags);
  if (!state.ok()) return Fail(state.status());
  Result<int> gpu = FindGpu(**state, flags.gpu);
  if (!gpu.ok()) return Fail(gpu.status());
  const Status changed = change(**state, *gpu);
  if (!changed.ok()) return Fail(changed);
  std::cout << what << " GPU " << *gpu << " (" << (*state)->gpu(*gpu).uuid << ")\n";
  return kExitOk;
}

int Models(const SimFlags& flags) {
  nlohmann::json document = nlohmann::json::array();
  for (const sim::GpuModel& model : sim::AllModels()) {
    document.push_back({{"model", std::string(model.key)},
                        {"name", std::string(model.nvml_name)},
                        {"memoryBytes", model.memory_mib << 20},
                        {"computeCapability",
                         std::to_string(model.cc_major) + "." + std::to_string(model.cc_minor)},
                        {"multiprocessors", model.sm_count}});
  }
  if (flags.format != OutputFormat::kTable) {
    WriteDocument(document, flags.format, std::cout);
    return kExitOk;
  }
  Table table({"MODEL", "NAME", "MEMORY", "CC", "SMS"});
  for (const nlohmann::json& model : document) {
    table.AddRow({model["model"], model["name"],
                  core::HumanBytes(model["memoryBytes"].get<uint64_t>()),
                  model["computeCapability"], std::to_string(model["multiprocessors"].get<int>())});
  }
  table.Print(std::cout);
  return kExitOk;
}

void AddStateOption(CLI::App* app, SimFlags* flags) {
  // Not CLI11's envname: the subcommands share one SimFlags, and the environment must never
  // overwrite the --state one of them was given.
  app->add_option(
      "--state", flags->state,
      "The simulated node's shared state file (default: $" + std::string(sim::kStateEnv) + ")");
}

void AddGpuOption(CLI::App* app, SimFlags* flags) {
  app->add_option("--gpu", flags->gpu, "The GPU: its index on the node or its UUID")->required();
}

}  // namespace

Subcommand AddSimCommand(CLI::App* root) {
  auto flags = std::make_shared<SimFlags>();
  CLI::App* sim = root->add_subcommand(
      "sim",
      "Simulated GPUs: create a simulated node, show its GPUs and the processes using them, "
      "inject XID errors and GPU loss. Programs use the node through the simulated NVML "
      "(libgpuslice-sim-nvml.so) and CUDA driver (lib/sim/libcuda.so.1) with " +
          std::string(sim::kStateEnv) + " set to its state file.");
  sim->require_subcommand(1);

  CLI::App* create = sim->add_subcommand(
      "create", "Create the state file of a simulated node from a spec (see gpuslice sim models)");
  create
      ->add_option("--spec", flags->spec,
                   "GPUs of the node: a spec such as 2xH100-80GB,1xT4 or a YAML spec file")
      ->required();
  AddStateOption(create, flags.get());
  create->add_flag("--force", flags->force,
                   "Replace an existing state file (never anything that is not one)");
  AddOutputOption(create, &flags->format);

  CLI::App* show = sim->add_subcommand(
      "show",
      "Show the GPUs of a simulated node, their memory, utilization and health, and the "
      "processes using them");
  AddStateOption(show, flags.get());
  AddOutputOption(show, &flags->format);

  CLI::App* xid = sim->add_subcommand(
      "xid", "Inject an XID error on a GPU: every process waiting for NVML events receives it");
  AddStateOption(xid, flags.get());
  AddGpuOption(xid, flags.get());
  xid->add_option("--xid", flags->xid, "The XID, e.g. 79 (fallen off the bus) or 48 (DBE)")
      ->required()
      ->check(CLI::Range(uint64_t{1}, uint64_t{0xffffffff}));

  CLI::App* lost = sim->add_subcommand(
      "lost", "Mark a GPU lost: NVML answers NVML_ERROR_GPU_IS_LOST for it until it recovers");
  AddStateOption(lost, flags.get());
  AddGpuOption(lost, flags.get());

  CLI::App* recover = sim->add_subcommand("recover", "Make a lost GPU answer again");
  AddStateOption(recover, flags.get());
  AddGpuOption(recover, flags.get());

  CLI::App* models = sim->add_subcommand("models", "List the GPU models a spec can name");
  AddOutputOption(models, &flags->format);

  return {sim, [=] {
            if (create->parsed()) return Create(*flags);
            if (show->parsed()) return Show(*flags);
            if (xid->parsed()) {
              return ChangeGpu(
                  *flags, "injected XID " + std::to_string(flags->xid) + " on",
                  [&](sim::SimState& state, int gpu) { return state.InjectXid(gpu, flags->xid); });
            }
            if (lost->parsed()) {
              return ChangeGpu(*flags, "marked lost:", [](sim::SimState& state, int gpu) {
                return state.SetLost(gpu, true);
              });
            }
            if (recover->parsed()) {
              return ChangeGpu(*flags, "recovered", [](sim::SimState& state, int gpu) {
                return state.SetLost(gpu, false);
              });
            }
            return Models(*flags);
          }};
}

}  // namespace gpuslice::cli
