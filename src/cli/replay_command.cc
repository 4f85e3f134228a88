// gpuslice replay: replays a production trace (the openb node and pod lists) against packing
// policies and reports the GPU allocation each reaches when the arrived GPU request is 100 %
// and 130 % of the cluster's capacity, over several seeds.
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "cli/output.h"
#include "cli/subcommands.h"
#include "io/file.h"
#include "replay/experiment.h"
#include "replay/policy.h"
#include "replay/report.h"
#include "replay/trace.h"

namespace gpuslice::cli {
namespace {

struct ReplayFlags {
  std::string nodes;
  std::string pods;
  std::string policies = "all";
  std::string seeds = "42-51";
  double inflate = 1.3;
  int jobs = 0;
  std::string curve_path;
  std::string plot_path;
  bool quiet = false;
  OutputFormat format = OutputFormat::kTable;
};

// "all" or a comma-separated list of known names, each once.
Result<std::vector<std::string>> ParsePolicies(const std::string& text) {
  std::vector<std::string> names;
  if (text == "all") {
    for (const replay::PolicyInfo& info : replay::KnownPolicies()) names.emplace_back(info.name);
    return names;
  }
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    std::string name = text.substr(start, end - start);
    if (replay::FindPolicy(name) == nullptr) {
      Result<std::unique_ptr<replay::PlacementPolicy>> unknown =
          replay::MakePolicy(name, replay::PolicyContext{});
      return Status::InvalidArgument("--policy: " + unknown.status().message());
    }
    if (std::find(names.begin(), names.end(), name) != names.end()) {
      return Status::InvalidArgument("--policy: '" + name + "' is listed twice");
    }
    names.push_back(std::move(name));
    start = end + 1;
  }
  return names;
}

std::optional<uint64_t> ParseSeed(std::string_view text) {
  uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size()) {
    return std::nullopt;
  }
  return value;
}

// "42-51", "42,45" or a mix ("1,5-7"): the seeds in the order given, each once (a seed given
// twice would count one run twice in the medians).
Result<std::vector<uint64_t>> ParseSeeds(const std::string& text) {
  constexpr uint64_t kMaxRange = 10000;
  std::vector<uint64_t> seeds;
  std::set<uint64_t> seen;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    const std::string_view item = std::string_view(text).substr(start, end - start);
    const size_t dash = item.find('-');
    const std::optional<uint64_t> first = ParseSeed(item.substr(0, dash));
    const std::optional<uint64_t> last =
        dash == std::string_view::npos ? first : ParseSeed(item.substr(dash + 1));
    if (!first || !last || *last < *first || *last - *first >= kMaxRange) {
      return Status::InvalidArgument("--seeds: '" + std::string(item) +
                                     "' is neither a seed nor an ascending range of at most " +
                                     std::to_string(kMaxRange) + " seeds (e.g. 42-51)");
    }
    for (uint64_t seed = *first; seed <= *last; ++seed) {
      if (!seen.insert(seed).second) {
        return Status::InvalidArgument("--seeds: seed " + std::to_string(seed) +
                                       " is given twice");
      }
      seeds.push_back(seed);
    }
    start = end + 1;
  }
  return seeds;
}

std::string FormatSpread(const std::optional<replay::Spread>& spread, bool with_range) {
  if (!spread) return "-";
  if (with_range) return FormatFixed(spread->min, 1) + "-" + FormatFixed(spread->max, 1);
  return FormatFixed(spread->median, 1);
}

nlohmann::json SpreadJson(const std::optional<replay::Spread>& spread) {
  if (!spread) return nullptr;
  return {{"median", spread->median}, {"min", spread->min}, {"max", spread->max}};
}

nlohmann::json ResultJson(const replay::ExperimentResult& result, const ReplayFlags& flags,
                          const std::vector<uint64_t>& seeds) {
  nlohmann::json policies = nlohmann::json::array();
  for (const replay::PolicyResult& policy : result.policies) {
    nlohmann::json runs = nlohmann::json::array();
    for (const replay::RunResult& run : policy.runs) {
      auto at = [&](int x) -> nlohmann::json {
        std::optional<double> value = run.curve.At(x);
        return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
      };
      runs.push_back({{"seed", run.seed},
                      {"allocAt100", at(100)},
                      {"allocAt130", at(130)},
                      {"pods", run.pods},
                      {"failedPods", run.failed_pods},
                      {"seconds", run.seconds}});
    }
    policies.push_back({{"name", policy.name},
                        {"displayName", replay::DisplayName(policy.name)},
                        {"allocAt100", SpreadJson(policy.At(100))},
                        {"allocAt130", SpreadJson(policy.At(130))},
                        {"runs", std::move(runs)}});
  }
  return {{"nodes",
           {{"file", flags.nodes},
            {"count", result.nodes},
            {"gpuCapacityMilli", result.gpu_capacity_milli}}},
          {"pods", {{"file", flags.pods}, {"count", result.trace_pods}}},
          {"seeds", seeds},
          {"inflate", flags.inflate},
          {"jobs", result.jobs},
          {"seconds", result.seconds},
          {"policies", std::move(policies)}};
}

void PrintTable(const replay::ExperimentResult& result, const ReplayFlags& flags,
                std::ostream& out) {
  out << "nodes: " << flags.nodes << " (" << result.nodes << " nodes, "
      << result.gpu_capacity_milli / replay::kMilliPerGpu << " GPUs)\n"
      << "pods:  " << flags.pods << " (" << result.trace_pods << " pods), seeds " << flags.seeds
      << ", inflated to " << flags.inflate << "x GPU capacity\n\n";
  Table table({"POLICY", "ALLOC@100", "MIN-MAX", "ALLOC@130", "MIN-MAX", "FAILED PODS"});
  for (const replay::PolicyResult& policy : result.policies) {
    std::vector<double> failed;
    for (const replay::RunResult& run : policy.runs) {
      failed.push_back(static_cast<double>(run.failed_pods));
    }
    const std::string failed_text = FormatFixed(replay::Summarize(std::move(failed)).median, 0);
    table.AddRow({replay::DisplayName(policy.name), FormatSpread(policy.At(100), false),
                  FormatSpread(policy.At(100), true), FormatSpread(policy.At(130), false),
                  FormatSpread(policy.At(130), true), failed_text});
  }
  table.Print(out);
  const size_t seeds = result.policies.front().runs.size();
  char footer[192];
  std::snprintf(footer, sizeof(footer),
                "\nGPU allocation %% when the arrived GPU request is 100 %% and 130 %% of "
                "capacity; median of %zu seed%s. %.1f s on %d thread%s.\n",
                seeds, seeds == 1 ? "" : "s", result.seconds, result.jobs,
                result.jobs == 1 ? "" : "s");
  out << footer;
}

// Draws "replay: 12/60 runs, 41 % of pods, 0:37" on a terminal; in a log, one line per tenth.
class ProgressLine {
 public:
  explicit ProgressLine(bool enabled)
      : enabled_(enabled),
        tty_(isatty(STDERR_FILENO) == 1),
        start_(std::chrono::steady_clock::now()) {}

  void Update(const replay::ExperimentProgress& progress) {
    if (!enabled_ || progress.pods_total == 0) return;
    const int percent = static_cast<int>(100 * progress.pods_done / progress.pods_total);
    const auto now = std::chrono::steady_clock::now();
    if (tty_ && now - last_draw_ < std::chrono::milliseconds(200) &&
        progress.runs_done != progress.runs_total) {
      return;
    }
    // In a log, one line per tenth of the pods, and one when the last run is done.
    const int step = percent / 10 + (progress.runs_done == progress.runs_total ? 1 : 0);
    if (!tty_ && step == last_step_) return;
    last_draw_ = now;
    last_step_ = step;
    const auto elapsed = std::chrono::duration_cast<std::chrono::seconds>(now - start_).count();
    std::fprintf(stderr, "%sreplay: %d/%d runs, %3d %% of pods, %lld:%02lld%s", tty_ ? "\r" : "",
                 progress.runs_done, progress.runs_total, percent,
                 static_cast<long long>(elapsed / 60), static_cast<long long>(elapsed % 60),
                 tty_ ? "" : "\n");
    drawn_ = true;
  }

  void Finish() {
    if (enabled_ && tty_ && drawn_) std::fputs("\n", stderr);
  }

 private:
  bool enabled_;
  bool tty_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_{};
  int last_step_ = -1;
  bool drawn_ = false;
};

int Run(const ReplayFlags& flags) {
  auto fail = [](const Status& status, int code) {
    std::cerr << "gpuslice replay: " << status.message() << "\n";
    return code;
  };
  Result<std::vector<std::string>> policies = ParsePolicies(flags.policies);
  if (!policies.ok()) return fail(policies.status(), kExitUsage);
  Result<std::vector<uint64_t>> seeds = ParseSeeds(flags.seeds);
  if (!seeds.ok()) return fail(seeds.status(), kExitUsage);
  Result<std::vector<replay::NodeSpec>> nodes = replay::LoadNodeList(flags.nodes);
  if (!nodes.ok()) return fail(nodes.status(), kExitUsage);
  Result<std::vector<replay::TracePod>> trace = replay::LoadPodList(flags.pods);
  if (!trace.ok()) return fail(trace.status(), kExitUsage);
  std::vector<replay::PodSpec> pods;
  pods.reserve(trace->size());
  for (replay::TracePod& pod : *trace) pods.push_back(std::move(pod.spec));

  ProgressLine progress(!flags.quiet);
  replay::ExperimentOptions options;
  options.policies = *policies;
  options.seeds = *seeds;
  options.inflate = flags.inflate;
  options.jobs = flags.jobs;
  options.on_progress = [&](const replay::ExperimentProgress& p) { progress.Update(p); };
  Result<replay::ExperimentResult> result = replay::RunExperiment(*nodes, pods, options);
  progress.Finish();
  if (!result.ok()) {
    return fail(result.status(),
                result.status().code() == StatusCode::kInvalidArgument ? kExitUsage : kExitFailure);
  }

  if (!flags.plot_path.empty()) {
    replay::ChartOptions chart;
    chart.subtitle = flags.pods + " on " + flags.nodes + ", seeds " + flags.seeds;
    if (Status written = io::WriteFile(flags.plot_path, replay::RenderCurvesSvg(*result, chart));
        !written.ok()) {
      return fail(written, written.code() == StatusCode::kInvalidArgument ? kExitUsage
                                                                          : kExitFailure);
    }
  }
  if (!flags.curve_path.empty()) {
    if (Status written = io::WriteFile(flags.curve_path, replay::RenderCurvesCsv(*result));
        !written.ok()) {
      return fail(written, written.code() == StatusCode::kInvalidArgument ? kExitUsage
                                                                          : kExitFailure);
    }
  }
  if (flags.format == OutputFormat::kTable) {
    PrintTable(*result, flags, std::cout);
  } else {
    WriteDocument(ResultJson(*result, flags, *seeds), flags.format, std::cout);
  }
  return kExitOk;
}

}  // namespace

Subcommand AddReplayCommand(CLI::App* app) {
  auto flags = std::make_shared<ReplayFlags>();
  std::string policy_help = "Policies to compare, comma-separated, or 'all':";
  for (const replay::PolicyInfo& info : replay::KnownPolicies()) {
    policy_help += "\n  " + std::string(info.name) + ": " + std::string(info.summary);
  }
  CLI::App* command = app->add_subcommand(
      "replay",
      "Replay a production GPU cluster trace against packing policies: the GPU allocation each "
      "reaches while pods arrive (the FGD paper's protocol on the openb trace).");
  command->add_option("--nodes", flags->nodes, "Node list CSV (sn,cpu_milli,memory_mib,gpu,model)")
      ->required();
  command
      ->add_option("--pods", flags->pods,
                   "Pod list CSV (name,cpu_milli,memory_mib,num_gpu,gpu_milli[,gpu_spec,...])")
      ->required();
  command->add_option("--policy", flags->policies, policy_help)->default_str("all");
  command->add_option("--seeds", flags->seeds, "Seeds: a range (42-51), a list (1,2,3), or both")
      ->default_str("42-51");
  command
      ->add_option("--inflate", flags->inflate,
                   "Total GPU request to replay, as a multiple of cluster GPU capacity (up to 10)")
      ->default_str("1.3")
      ->check(NumberAbove(0, 10));
  command->add_option("-j,--jobs", flags->jobs, "Runs in parallel (default: one per CPU)")
      ->check(NumberAtLeast(0));
  command->add_option("--curve", flags->curve_path,
                      "Also write the allocation curves (median/min/max per arrived %) as CSV");
  command->add_option("--plot", flags->plot_path,
                      "Also draw allocation % against arrived % for every policy as SVG");
  command->add_flag("-q,--quiet", flags->quiet, "No progress line on stderr");
  AddOutputOption(command, &flags->format);
  return {command, [flags] { return Run(*flags); }};
}

}  // namespace gpuslice::cli
