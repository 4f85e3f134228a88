// Measures what libgpuslice.so adds: runs preload_calls_bench over the simulated driver with
// and without the library preloaded (limits set, compute share enforced but not exhausted)
// and prints the time each call gains, then the time the library adds to starting a process.
//
//   preload_overhead [--rounds N] [--spawns N]
//
// Runs alternate without and with the library, N rounds, and each figure is the median over
// the rounds, so a burst of other load on the machine lands on both sides. Besides the wall
// time per call, the CPU time its threads spent per call is compared, which other work on the
// machine inflates less. Both use the same
// simulated node (1 GPU, kernels of 1 ns so launches never queue up).
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "sim/environment.h"

extern char** environ;

namespace {

constexpr const char* kUuid = "GPU-0b0e0c0d-0000-4000-8000-000000000001";

using Environment = std::map<std::string, std::string>;

std::vector<char*> Envp(const Environment& env, std::vector<std::string>& storage) {
  storage.clear();
  for (const auto& [name, value] : env) storage.push_back(name + "=" + value);
  std::vector<char*> envp;
  for (std::string& entry : storage) envp.push_back(entry.data());
  envp.push_back(nullptr);
  return envp;
}

// Runs `argv` with `env`; returns its standard output, or "" when it failed.
std::string Run(const std::vector<std::string>& argv, const Environment& env) {
  const std::string output = std::filesystem::temp_directory_path() /
                             ("gpuslice-bench-" + std::to_string(getpid()) + ".json");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, output.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> storage;
  std::vector<char*> envp = Envp(env, storage);
  pid_t pid = 0;
  int status = 1;
  if (posix_spawn(&pid, args[0], &actions, nullptr, args.data(), envp.data()) == 0) {
    waitpid(pid, &status, 0);
  }
  posix_spawn_file_actions_destroy(&actions);
  std::ifstream in(output);
  std::stringstream text;
  text << in.rdbuf();
  std::filesystem::remove(output);
  return status == 0 ? text.str() : "";
}

// Per iteration (ns): the wall time, and the CPU time its threads spent (which a machine busy
// with other work inflates less).
struct Times {
  double real = 0;
  double cpu = 0;
};

// Median times of each benchmark in a Google Benchmark JSON report.
std::map<std::string, Times> Medians(const std::string& json_text) {
  std::map<std::string, Times> medians;
  const nlohmann::json report = nlohmann::json::parse(json_text, nullptr, false);
  if (report.is_discarded()) return medians;
  for (const nlohmann::json& run : report["benchmarks"]) {
    if (run.value("aggregate_name", "") != "median") continue;
    medians[run["run_name"].get<std::string>()] =
        Times{run["real_time"].get<double>(), run["cpu_time"].get<double>()};
  }
  return medians;
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t middle = values.size() / 2;
  return values.size() % 2 == 1 ? values[middle] : (values[middle - 1] + values[middle]) / 2;
}

// Mean wall time (ns) to start and reap `program` with `env`.
double SpawnNanos(const std::string& program, const Environment& env, int spawns) {
  std::vector<std::string> storage;
  std::vector<char*> envp = Envp(env, storage);
  char* args[] = {const_cast<char*>(program.c_str()), nullptr};
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < spawns; ++i) {
    pid_t pid = 0;
    if (posix_spawn(&pid, args[0], nullptr, nullptr, args, envp.data()) != 0) return -1;
    waitpid(pid, nullptr, 0);
  }
  return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start)
             .count() /
         spawns;
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 5;
  int spawns = 300;
  bool usage_error = argc % 2 == 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--rounds") == 0) {
      rounds = std::atoi(argv[i + 1]);
    } else if (std::strcmp(argv[i], "--spawns") == 0) {
      spawns = std::atoi(argv[i + 1]);
    } else {
      usage_error = true;
    }
  }
  if (usage_error || rounds < 1 || spawns < 1) {
    std::fprintf(stderr, "usage: preload_overhead [--rounds N] [--spawns N]\n");
    return 2;
  }

  char pattern[] = "/tmp/gpuslice-overhead-XXXXXX";
  const std::string directory = mkdtemp(pattern);
  const std::string spec = directory + "/spec.yaml";
  std::ofstream(spec) << "version: v1\ngpus:\n  - model: A100-40GB\n    uuid: " << kUuid
                      << "\n    kernelDuration: 1ns\n    launchQueueDepth: 65536\n";
  // The simulated driver libraries read spec strings only: the state file is made from the
  // spec file first, as `gpuslice sim create` makes it.
  const std::string state = directory + "/sim-state";
  if (gpuslice::Result<gpuslice::sim::OpenedState> created =
          gpuslice::sim::OpenOrCreateState(state, spec);
      !created.ok()) {
    std::fprintf(stderr, "preload_overhead: %s\n", created.status().ToString().c_str());
    return 1;
  }
  const std::string region = directory + "/region";
  std::ofstream(region).close();

  const Environment plain = {{"PATH", "/usr/bin:/bin"},
                             {"LD_LIBRARY_PATH", GPUSLICE_SIM_DRIVER_DIR},
                             {"GPUSLICE_SIM_STATE", state},
                             {"GPUSLICE_SIM_SPEC", spec},
                             {"NVIDIA_VISIBLE_DEVICES", kUuid},
                             {"GPUSLICE_MEMORY_LIMIT_0", std::to_string(8ULL << 30)},
                             {"GPUSLICE_COMPUTE_LIMIT_0", "50"},
                             {"GPUSLICE_REGION", region}};
  Environment preloaded = plain;
  preloaded["LD_PRELOAD"] = std::string(GPUSLICE_LIB_DIR) + "/libgpuslice.so";

  const std::vector<std::string> bench = {std::string(GPUSLICE_BIN_DIR) + "/preload_calls_bench",
                                          "--benchmark_format=json", "--benchmark_repetitions=3",
                                          "--benchmark_report_aggregates_only=true"};
  using Samples = std::map<std::string, std::vector<Times>>;
  Samples without, with;
  for (int round = 0; round < rounds; ++round) {
    std::fprintf(stderr, "preload_overhead: round %d of %d\n", round + 1, rounds);
    using Side = std::pair<const Environment*, Samples*>;
    for (auto [env, results] : {Side{&plain, &without}, Side{&preloaded, &with}}) {
      const std::map<std::string, Times> medians = Medians(Run(bench, *env));
      if (medians.empty()) {
        std::fprintf(stderr, "preload_overhead: preload_calls_bench failed\n");
        std::filesystem::remove_all(directory);
        return 1;
      }
      for (const auto& [name, times] : medians) (*results)[name].push_back(times);
    }
  }
  const auto median_of = [](const std::vector<Times>& samples, double Times::*field) {
    std::vector<double> values;
    for (const Times& times : samples) values.push_back(times.*field);
    return Median(values);
  };
  std::printf("%-44s %12s %12s %12s %12s\n", "call (median of rounds)", "without ns", "with ns",
              "added ns", "added cpu ns");
  for (auto& [name, base] : without) {
    auto found = with.find(name);
    if (found == with.end()) continue;
    const double base_real = median_of(base, &Times::real);
    const double with_real = median_of(found->second, &Times::real);
    const double added_cpu = median_of(found->second, &Times::cpu) - median_of(base, &Times::cpu);
    std::printf("%-44s %12.1f %12.1f %12.1f %12.1f\n", name.c_str(), base_real, with_real,
                with_real - base_real, added_cpu);
  }

  std::fprintf(stderr, "preload_overhead: starting /bin/true %d times each way, %d rounds\n",
               spawns, rounds);
  std::vector<double> base_spawns, preloaded_spawns;
  for (int round = 0; round < rounds; ++round) {
    base_spawns.push_back(SpawnNanos("/bin/true", plain, spawns));
    preloaded_spawns.push_back(SpawnNanos("/bin/true", preloaded, spawns));
  }
  const double base_spawn = Median(base_spawns);
  const double preloaded_spawn = Median(preloaded_spawns);
  std::printf("%-44s %12.0f %12.0f %12.0f\n", "process start and exit (/bin/true)", base_spawn,
              preloaded_spawn, preloaded_spawn - base_spawn);
  std::filesystem::remove_all(directory);
  return 0;
}
