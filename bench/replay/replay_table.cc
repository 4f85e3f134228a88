// replay_table: the full-trace bench command. Replays every policy on every openb trace
// (seeds 42-51 by default), prints Markdown tables of the measured medians beside the
// published ones, the seed spread, the acceptance checks and the time each trace took, and
// optionally draws each trace's chart. Exits 1 when a check fails, 2 on bad input.
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "bench/replay/openb.h"
#include "replay/experiment.h"
#include "replay/policy.h"
#include "replay/report.h"
#include "replay/trace.h"

namespace gpuslice::replay::bench {
namespace {

constexpr std::string_view kOurs = "fgd-host";
constexpr double kBaselineTolerance = 1.0;  // points at x = 100
constexpr double kFgdTolerance = 0.5;

struct TraceResult {
  std::string trace;
  ExperimentResult result;
  std::optional<Published> published;

  std::optional<Spread> At(std::string_view policy, int x) const {
    for (const PolicyResult& p : result.policies) {
      if (p.name == policy) return p.At(x);
    }
    return std::nullopt;
  }
};

std::string Format(double value, const char* format = "%.1f") {
  char text[32];
  std::snprintf(text, sizeof(text), format, value);
  return text;
}

std::vector<std::string> AllPolicies() {
  std::vector<std::string> names;
  for (const PolicyInfo& info : KnownPolicies()) names.emplace_back(info.name);
  return names;
}

// One Markdown table: the measured median at `x` per trace and policy, with the published
// median in parentheses, and ours with its margin over FGD.
void PrintMedians(const std::vector<TraceResult>& traces, int x, std::ostream& out) {
  out << "| trace |";
  for (const PolicyInfo& info : KnownPolicies()) {
    out << ' ' << info.display_name << (info.name == kOurs ? " (ours)" : "") << " |";
  }
  out << "\n|---|";
  for (size_t i = 0; i < KnownPolicies().size(); ++i) out << "---|";
  out << "\n";
  for (const TraceResult& trace : traces) {
    out << "| " << trace.trace << " |";
    for (const PolicyInfo& info : KnownPolicies()) {
      const std::optional<Spread> measured = trace.At(info.name, x);
      out << ' ' << (measured ? Format(measured->median, "%.2f") : "-");
      if (info.name == kOurs) {
        const std::optional<Spread> fgd = trace.At("fgd", x);
        if (measured && fgd) out << " (" << Format(measured->median - fgd->median, "%+.2f") << ")";
      } else if (trace.published) {
        for (size_t p = 0; p < kPublishedPolicies.size(); ++p) {
          if (kPublishedPolicies[p] == info.name) {
            out << " (" << Format(trace.published->at[p][x == 100 ? 0 : 1]) << ")";
          }
        }
      }
      out << " |";
    }
    out << "\n";
  }
}

void PrintSpreads(const std::vector<TraceResult>& traces, std::ostream& out) {
  out << "| trace |";
  for (const PolicyInfo& info : KnownPolicies()) out << ' ' << info.display_name << " |";
  out << "\n|---|";
  for (size_t i = 0; i < KnownPolicies().size(); ++i) out << "---|";
  out << "\n";
  for (const TraceResult& trace : traces) {
    out << "| " << trace.trace << " |";
    for (const PolicyInfo& info : KnownPolicies()) {
      const std::optional<Spread> at100 = trace.At(info.name, 100);
      const std::optional<Spread> at130 = trace.At(info.name, 130);
      out << ' ';
      if (at100 && at130) {
        out << Format(at100->min) << "-" << Format(at100->max) << " / " << Format(at130->min) << "-"
            << Format(at130->max);
      }
      out << " |";
    }
    out << "\n";
  }
}

// The acceptance checks; returns false when one fails.
bool PrintChecks(const std::vector<TraceResult>& traces, std::ostream& out) {
  bool all_pass = true;
  out << "| trace | largest baseline gap @100 | FGD gap @100 | ours - FGD @100 | ours - FGD @130 "
         "| verdict |\n|---|---|---|---|---|---|\n";
  for (const TraceResult& trace : traces) {
    double worst_baseline = 0;
    std::string worst_name = "-";
    double fgd_gap = NAN;
    if (trace.published) {
      for (size_t p = 0; p < kPublishedPolicies.size(); ++p) {
        const std::optional<Spread> measured = trace.At(kPublishedPolicies[p], 100);
        if (!measured) continue;
        const double gap = measured->median - trace.published->at[p][0];
        if (kPublishedPolicies[p] == "fgd") {
          fgd_gap = gap;
        } else if (std::fabs(gap) >= std::fabs(worst_baseline)) {
          worst_baseline = gap;
          worst_name = DisplayName(std::string(kPublishedPolicies[p]));
        }
      }
    }
    const std::optional<Spread> ours100 = trace.At(kOurs, 100);
    const std::optional<Spread> ours130 = trace.At(kOurs, 130);
    const std::optional<Spread> fgd100 = trace.At("fgd", 100);
    const std::optional<Spread> fgd130 = trace.At("fgd", 130);
    const double margin100 = ours100 && fgd100 ? ours100->median - fgd100->median : NAN;
    const double margin130 = ours130 && fgd130 ? ours130->median - fgd130->median : NAN;
    bool pass = margin100 > 0 && margin130 > 0;
    if (trace.published) {
      pass = pass && std::fabs(worst_baseline) <= kBaselineTolerance &&
             std::fabs(fgd_gap) <= kFgdTolerance;
    }
    all_pass = all_pass && pass;
    out << "| " << trace.trace << " | "
        << (trace.published ? Format(worst_baseline, "%+.2f") + " (" + worst_name + ")"
                            : std::string("not published"))
        << " | " << (trace.published ? Format(fgd_gap, "%+.2f") : std::string("-")) << " | "
        << Format(margin100, "%+.2f") << " | " << Format(margin130, "%+.2f") << " | "
        << (pass ? "pass" : "FAIL") << " |\n";
  }
  return all_pass;
}

int Main(int argc, char** argv) {
  CLI::App app{
      "Replays every policy on every openb trace and prints the README's tables "
      "(measured medians beside the published ones). The trace is read from "
      "$GPUSLICE_OPENB_DIR, else ../shared/traces/openb next to the source tree."};
  std::vector<std::string> traces(kTraces.begin(), kTraces.end());
  std::vector<uint64_t> seeds = {42, 43, 44, 45, 46, 47, 48, 49, 50, 51};
  int jobs = 0;
  std::string plot_dir;
  app.add_option("--traces", traces, "Traces to replay (default: all ten)")->delimiter(',');
  app.add_option("--seeds", seeds, "Seeds (default: 42-51)")->delimiter(',');
  app.add_option("-j,--jobs", jobs, "Runs in parallel (default: one per CPU)");
  app.add_option("--plot-dir", plot_dir, "Also write <trace>.svg charts into this directory");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  Result<std::vector<NodeSpec>> nodes = LoadNodeList(NodeListPath());
  if (!nodes.ok()) {
    std::cerr << "replay_table: " << nodes.status().message() << "\n";
    return 2;
  }
  std::vector<TraceResult> results;
  double total_seconds = 0;
  for (const std::string& trace : traces) {
    Result<std::vector<TracePod>> pods = LoadPodList(PodListPath(trace));
    if (!pods.ok()) {
      std::cerr << "replay_table: " << pods.status().message() << "\n";
      return 2;
    }
    std::vector<PodSpec> specs;
    for (TracePod& pod : *pods) specs.push_back(std::move(pod.spec));
    ExperimentOptions options;
    options.policies = AllPolicies();
    options.seeds = seeds;
    options.jobs = jobs;
    int runs_shown = -1;
    options.on_progress = [&](const ExperimentProgress& progress) {
      if (progress.runs_done == runs_shown) return;
      runs_shown = progress.runs_done;
      std::fprintf(stderr, "\r%-10s %3d/%d runs", trace.c_str(), progress.runs_done,
                   progress.runs_total);
    };
    Result<ExperimentResult> result = RunExperiment(*nodes, specs, options);
    if (!result.ok()) {
      std::cerr << "\nreplay_table: " << trace << ": " << result.status().message() << "\n";
      return 1;
    }
    std::fprintf(stderr, "  %.1f s\n", result->seconds);
    total_seconds += result->seconds;
    if (!plot_dir.empty()) {
      std::ofstream(plot_dir + "/" + trace + ".svg")
          << RenderCurvesSvg(*result, {.subtitle = "openb " + trace + " trace, 1213 nodes, " +
                                                   std::to_string(seeds.size()) + " seeds"});
    }
    results.push_back({trace, std::move(*result), FindPublished(trace)});
  }

  std::cout << "GPU allocation % at x = 100 (arrived GPU request = 100 % of capacity), median "
               "of seeds; published in parentheses, ours with its margin over FGD:\n\n";
  PrintMedians(results, 100, std::cout);
  std::cout << "\nThe same at x = 130:\n\n";
  PrintMedians(results, 130, std::cout);
  std::cout << "\nSeed spread, min-max at x = 100 / x = 130:\n\n";
  PrintSpreads(results, std::cout);
  std::cout << "\nChecks: every published baseline within " << kBaselineTolerance
            << " point of its published median at x = 100, FGD within " << kFgdTolerance
            << ", ours above FGD at both points:\n\n";
  const bool pass = PrintChecks(results, std::cout);
  std::cout << "\nWall time per trace (" << KnownPolicies().size() << " policies x " << seeds.size()
            << " seeds, " << results.front().result.jobs << " threads):";
  for (const TraceResult& trace : results) {
    std::cout << ' ' << trace.trace << ' ' << Format(trace.result.seconds) << " s;";
  }
  std::cout << " total " << Format(total_seconds) << " s.\n";
  return pass ? 0 : 1;
}

}  // namespace
}  // namespace gpuslice::replay::bench

int main(int argc, char** argv) { return gpuslice::replay::bench::Main(argc, argv); }
