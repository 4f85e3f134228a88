// `gpuslice plan` against the real Karpenter: the same inputs go to `gpuslice plan -o json` and
// to tools/karpenter-oracle (Karpenter's own NodeOverlay controller, Provisioner and scheduler,
// sigs.k8s.io/karpenter), and each scenario (whole GPUs; slices through the NodeOverlays
// `gpuslice render` writes) must launch the same NodeClaims (NodePool and instance type, with
// counts), cost the same $/h and leave the same pods unschedulable. Cases: the bundled
// examples, the seed's p3 case and a few hundred seeded random cases.
//
// The oracle is built (Go, from the Go module proxy) into $GPUSLICE_CACHE by
// tools/karpenter-oracle/build.sh, or taken from $GPUSLICE_KARPENTER_ORACLE; without Go or the
// proxy the tests skip with the reason. $GPUSLICE_KARPENTER_REPORT names a file the agreement
// table is appended to (docs/karpenter.md quotes it).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "fakes/temp_dir.h"
#include "random_cases.h"

namespace gpuslice::plan {
namespace {

namespace fs = std::filesystem;

constexpr int kRandomCases = 300;
// Cases with every workload's replicas times 10: tens of NodeClaims, where Karpenter's sort of
// its NodeClaims is no longer an insertion sort.
constexpr int kLargeCases = 40;
constexpr int kLargeScale = 10;
constexpr int kLargeFirstSeed = 1001;
constexpr const char* kScenarios[] = {"whole", "sliced"};

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void Write(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path) << text;
}

std::string Source(const std::string& relative) {
  return std::string(GPUSLICE_SOURCE_DIR) + "/" + relative;
}

// A process to run: `argv` with stdout to `out` and stderr to `err`.
struct Job {
  Job(std::vector<std::string> job_argv, std::string out_path, std::string err_path)
      : argv(std::move(job_argv)), out(std::move(out_path)), err(std::move(err_path)) {}
  std::vector<std::string> argv;
  std::string out;
  std::string err;
  int exit_code = -1;  // -1 when it did not exit normally
};

pid_t Start(const Job& job) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int out_fd = ::open(job.out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err_fd = ::open(job.err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out_fd < 0 || err_fd < 0) ::_exit(126);
    ::dup2(out_fd, STDOUT_FILENO);
    ::dup2(err_fd, STDERR_FILENO);
    std::vector<char*> args;
    for (const std::string& a : job.argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  return pid;
}

// Runs the jobs, as many at once as there are CPUs, and records their exit codes.
void RunAll(std::vector<Job>* jobs) {
  const size_t parallel = std::max(1u, std::thread::hardware_concurrency());
  std::map<pid_t, Job*> running;
  size_t next = 0;
  while (next < jobs->size() || !running.empty()) {
    while (next < jobs->size() && running.size() < parallel) {
      Job& job = (*jobs)[next++];
      const pid_t pid = Start(job);
      if (pid > 0) running[pid] = &job;
    }
    if (running.empty()) continue;
    int status = 0;
    const pid_t done = ::waitpid(-1, &status, 0);
    auto it = running.find(done);
    if (it == running.end()) continue;
    it->second->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    running.erase(it);
  }
}

int RunProcess(const std::vector<std::string>& argv, const std::string& out,
               const std::string& err) {
  std::vector<Job> jobs = {Job(argv, out, err)};
  RunAll(&jobs);
  return jobs[0].exit_code;
}

std::string Gpuslice() { return std::string(GPUSLICE_BIN_DIR) + "/gpuslice"; }

// One scenario's answer, from either side.
struct Answer {
  std::map<std::pair<std::string, std::string>, long> nodes;  // (NodePool, type) -> count
  double cost = 0;
  std::vector<std::string> unschedulable;
};

Answer ReadAnswer(const nlohmann::json& scenario) {
  Answer a;
  for (const nlohmann::json& n : scenario.at("nodes")) {
    a.nodes[{n.at("nodePool").get<std::string>(), n.at("instanceType").get<std::string>()}] +=
        n.at("count").get<long>();
  }
  a.cost = scenario.at("costPerHour").get<double>();
  for (const nlohmann::json& u : scenario.at("unschedulable")) {
    a.unschedulable.push_back(u.at("pod").get<std::string>());
  }
  std::sort(a.unschedulable.begin(), a.unschedulable.end());
  return a;
}

const nlohmann::json* FindScenario(const nlohmann::json& doc, const std::string& name) {
  for (const nlohmann::json& s : doc.at("scenarios")) {
    if (s.at("name") == name) return &s;
  }
  return nullptr;
}

std::string Describe(const Answer& a) {
  std::string out;
  for (const auto& [key, count] : a.nodes) {
    out += (out.empty() ? "" : ", ") + std::to_string(count) + "x " + key.first + "/" + key.second;
  }
  char cost[32];
  std::snprintf(cost, sizeof(cost), "%.4f", a.cost);
  out += " = $" + std::string(cost) + "/h";
  if (!a.unschedulable.empty())
    out += ", " + std::to_string(a.unschedulable.size()) + " unschedulable";
  return out;
}

// Agreement over a set of cases, per scenario.
struct Tally {
  int cases = 0;
  int same_nodes = 0;
  int same_cost = 0;
  int same_unschedulable = 0;
  double max_cost_gap = 0;     // |plan - Karpenter| $/h, largest over the cases
  double total_plan = 0;       // summed $/h
  double total_karpenter = 0;  // summed $/h
};

// The inputs of one case and what both sides answered.
struct Case {
  Case(std::string case_name, std::vector<std::string> case_paths)
      : name(std::move(case_name)), paths(std::move(case_paths)) {}
  std::string name;
  std::vector<std::string> paths;  // manifests, overlays from render included
  std::string plan_json;
  std::string oracle_json;
};

class KarpenterAgreement : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (const char* given = std::getenv("GPUSLICE_KARPENTER_ORACLE")) {
      oracle_ = given;
      return;
    }
    gpuslice::testing::TempDir dir;
    const int code = RunProcess({"/bin/bash", Source("tools/karpenter-oracle/build.sh")},
                                dir.Sub("out"), dir.Sub("err"));
    std::string path = Slurp(dir.Sub("out"));
    while (!path.empty() && (path.back() == '\n' || path.back() == ' ')) path.pop_back();
    if (code == 0 && !path.empty()) {
      oracle_ = path + "/karpenter-oracle";
    } else if (code == 77) {
      skip_reason_ = Slurp(dir.Sub("err"));
    } else {
      build_error_ = "tools/karpenter-oracle/build.sh exited " + std::to_string(code) + ":\n" +
                     Slurp(dir.Sub("err"));
    }
  }

  void SetUp() override {
    if (!skip_reason_.empty())
      GTEST_SKIP() << "the Karpenter oracle is unavailable: " << skip_reason_;
    ASSERT_TRUE(build_error_.empty()) << build_error_;
    ASSERT_FALSE(dir_.path().empty());
  }

  // The job writing render's NodeOverlays for `node_pools` with `flags` under `dir`; they land
  // in RenderedOverlays(dir).
  static Job RenderJob(const std::vector<std::string>& node_pools,
                       const std::vector<std::string>& flags, const std::string& dir) {
    std::vector<std::string> argv = {Gpuslice(), "render"};
    argv.insert(argv.end(), node_pools.begin(), node_pools.end());
    argv.insert(argv.end(), flags.begin(), flags.end());
    argv.insert(argv.end(), {"--output-dir", dir + "/render", "-o", "json"});
    fs::create_directories(dir);
    return Job(argv, dir + "/render.out", dir + "/render.err");
  }
  static std::string RenderedOverlays(const std::string& dir) {
    return dir + "/render/nodeoverlays.yaml";
  }

  static void RunOrFail(std::vector<Job>* jobs) {
    RunAll(jobs);
    for (const Job& job : *jobs) {
      EXPECT_EQ(job.exit_code, 0) << job.argv[0] << " " << job.argv[1] << ": " << Slurp(job.err);
    }
  }

  // Seeded random cases written under the test's directory, with render's overlays.
  std::vector<Case> RandomCases(int first_seed, int count, int scale);

  // Runs plan on every case, and the oracle on all of them in as many processes as there are
  // CPUs.
  void Solve(std::vector<Case>* cases) {
    const size_t parallel = std::max(1u, std::thread::hardware_concurrency());
    std::vector<Job> plans;
    std::vector<std::string> batches(std::min(parallel, cases->size()));
    for (size_t i = 0; i < cases->size(); ++i) {
      Case& c = (*cases)[i];
      const std::string dir = dir_.Sub(c.name);
      fs::create_directories(dir);
      std::vector<std::string> argv = {Gpuslice(), "plan"};
      argv.insert(argv.end(), c.paths.begin(), c.paths.end());
      argv.insert(argv.end(), {"--no-optimal", "-o", "json"});
      plans.emplace_back(argv, dir + "/plan.json", dir + "/plan.err");
      c.plan_json = dir + "/plan.json";
      c.oracle_json = dir + "/oracle.json";
      std::string& batch = batches[i % batches.size()];
      batch += c.oracle_json;
      for (const std::string& p : c.paths) batch += "\t" + p;
      batch += "\n";
    }
    RunOrFail(&plans);
    std::vector<Job> oracles;
    for (size_t b = 0; b < batches.size(); ++b) {
      const std::string list = dir_.Sub("batch-" + std::to_string(b) + ".tsv");
      Write(list, batches[b]);
      oracles.emplace_back(
          std::vector<std::string>{oracle_, "--catalog", Source("src/plan/data/aws-us-east-1.csv"),
                                   "--batch", list},
          list + ".out", list + ".err");
    }
    RunOrFail(&oracles);
  }

  // Compares every case and scenario; returns the tallies and fails the test on a difference.
  std::map<std::string, Tally> Compare(const std::vector<Case>& cases) {
    std::map<std::string, Tally> tallies;
    int reported = 0;
    for (const Case& c : cases) {
      const nlohmann::json plan = nlohmann::json::parse(Slurp(c.plan_json));
      const nlohmann::json oracle = nlohmann::json::parse(Slurp(c.oracle_json));
      for (const char* name : kScenarios) {
        const nlohmann::json* p = FindScenario(plan, name);
        const nlohmann::json* k = FindScenario(oracle, name);
        if (p == nullptr || k == nullptr) {
          ADD_FAILURE() << c.name << ": scenario " << name << " missing";
          continue;
        }
        EXPECT_EQ(k->at("unprocessed").get<int>(), 0)
            << c.name << ": Karpenter's solve ran out of time";
        const Answer a = ReadAnswer(*p);
        const Answer b = ReadAnswer(*k);
        Tally& t = tallies[name];
        ++t.cases;
        const bool nodes = a.nodes == b.nodes;
        const double gap = std::fabs(a.cost - b.cost);
        const bool cost = gap < 1e-4;
        const bool unschedulable = a.unschedulable == b.unschedulable;
        t.same_nodes += nodes;
        t.same_cost += cost;
        t.same_unschedulable += unschedulable;
        t.max_cost_gap = std::max(t.max_cost_gap, gap);
        t.total_plan += a.cost;
        t.total_karpenter += b.cost;
        if (!(nodes && cost && unschedulable) && reported++ < 10) {
          ADD_FAILURE() << c.name << " (" << name << "): gpuslice plan: " << Describe(a)
                        << "\n  Karpenter " << oracle.value("karpenter", "?") << ": " << Describe(b)
                        << "\n  inputs kept in " << Keep(c);
        }
      }
    }
    if (reported > 10) ADD_FAILURE() << reported - 10 << " more differences";
    return tallies;
  }

  // Copies a differing case somewhere it outlives the test when $GPUSLICE_KARPENTER_KEEP names
  // a directory.
  static std::string Keep(const Case& c) {
    const char* keep = std::getenv("GPUSLICE_KARPENTER_KEEP");
    if (keep == nullptr) return "(set GPUSLICE_KARPENTER_KEEP=DIR to keep them)";
    const fs::path target = fs::path(keep) / c.name;
    fs::create_directories(target);
    std::error_code ignored;
    for (const std::string& p : c.paths) {
      fs::copy_file(p, target / fs::path(p).filename(), fs::copy_options::overwrite_existing,
                    ignored);
    }
    fs::copy_file(c.plan_json, target / "plan.json", fs::copy_options::overwrite_existing, ignored);
    fs::copy_file(c.oracle_json, target / "oracle.json", fs::copy_options::overwrite_existing,
                  ignored);
    return target.string();
  }

  static void Report(const std::string& set, const std::map<std::string, Tally>& tallies) {
    const char* path = std::getenv("GPUSLICE_KARPENTER_REPORT");
    if (path == nullptr) return;
    std::ofstream out(path, std::ios::app);
    for (const auto& [scenario, t] : tallies) {
      char line[512];
      std::snprintf(line, sizeof(line), "| %s | %s | %d | %d | %d | %d | %.4f | %.4f | %.4f |\n",
                    set.c_str(), scenario.c_str(), t.cases, t.same_nodes, t.same_cost,
                    t.same_unschedulable, t.total_plan, t.total_karpenter, t.max_cost_gap);
      out << line;
    }
  }

  static std::string oracle_;
  static std::string skip_reason_;
  static std::string build_error_;
  gpuslice::testing::TempDir dir_;
};

std::string KarpenterAgreement::oracle_;
std::string KarpenterAgreement::skip_reason_;
std::string KarpenterAgreement::build_error_;

TEST_F(KarpenterAgreement, BundledExamplesProvisionAsKarpenterDoes) {
  std::vector<Case> cases = {Case(
      "examples",
      {Source("examples/gpu-example-deployment.yaml"), Source("examples/gpu-example-pod.yaml"),
       Source("examples/nodepool-gpu.yaml"), Source("examples/inference/deployments.yaml"),
       Source("examples/inference/nodepool.yaml"), Source("examples/gpuslice/nodeoverlays.yaml")})};
  Solve(&cases);
  Report("bundled examples", Compare(cases));
}

TEST_F(KarpenterAgreement, SeedP3CaseProvisionsAsKarpenterDoes) {
  const std::string pool = Source("examples/nodepool-gpu.yaml");
  std::vector<Case> cases;
  std::vector<Job> renders;
  for (const std::vector<std::string>& flags :
       std::vector<std::vector<std::string>>{{}, {"--slices", "2"}, {"--slice-memory", "4Gi"}}) {
    const std::string dir = dir_.Sub("p3-" + std::to_string(cases.size()));
    renders.push_back(RenderJob({pool}, flags, dir));
    cases.emplace_back(
        fs::path(dir).filename().string(),
        std::vector<std::string>{pool, Source("examples/gpu-example-deployment.yaml"),
                                 Source("examples/gpu-example-pod.yaml"), RenderedOverlays(dir)});
  }
  RunOrFail(&renders);
  Solve(&cases);
  Report("seed p3 case (3 profiles)", Compare(cases));
}

TEST_F(KarpenterAgreement, RandomCasesProvisionAsKarpenterDoes) {
  std::vector<Case> cases = RandomCases(1, kRandomCases, 1);
  Solve(&cases);
  Report("random cases (seeds 1-" + std::to_string(kRandomCases) + ")", Compare(cases));
}

TEST_F(KarpenterAgreement, LargeRandomCasesProvisionAsKarpenterDoes) {
  std::vector<Case> cases = RandomCases(kLargeFirstSeed, kLargeCases, kLargeScale);
  Solve(&cases);
  Report("large random cases (seeds " + std::to_string(kLargeFirstSeed) + "-" +
             std::to_string(kLargeFirstSeed + kLargeCases - 1) + ", replicas x" +
             std::to_string(kLargeScale) + ")",
         Compare(cases));
}

std::vector<Case> KarpenterAgreement::RandomCases(int first_seed, int count, int scale) {
  std::vector<Case> cases;
  std::vector<Job> renders;
  for (int seed = first_seed; seed < first_seed + count; ++seed) {
    const plan::testing::RandomCase generated = plan::testing::GenerateRandomCase(seed, scale);
    const std::string name = "random-" + std::to_string(seed);
    const std::string dir = dir_.Sub(name);
    Write(dir + "/nodepools.yaml", generated.node_pools_yaml);
    Write(dir + "/workloads.yaml", generated.workloads_yaml);
    renders.push_back(RenderJob({dir + "/nodepools.yaml"}, generated.render_flags, dir));
    cases.emplace_back(name,
                       std::vector<std::string>{dir + "/nodepools.yaml", dir + "/workloads.yaml",
                                                RenderedOverlays(dir)});
  }
  RunOrFail(&renders);
  return cases;
}

}  // namespace
}  // namespace gpuslice::plan
