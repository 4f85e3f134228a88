// The input bounds `gpuslice plan`, `render` and `node-sim` enforce, measured at the bounds:
// reading the largest input accepted (io::kMaxInputBytes of manifests) and the largest
// document, reading and planning the most pods accepted (kube::kMaxPods), the heap each pod
// read takes, and how quickly an alias bomb and an input over the limit are refused.
// peak_rss_MiB is the process's peak: run one benchmark per process (--benchmark_filter) to
// read it as that benchmark's.
#include <benchmark/benchmark.h>
#include <malloc.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "core/yaml_load.h"
#include "io/file.h"
#include "kube/manifest.h"
#include "plan/planner.h"

namespace gpuslice {
namespace {

constexpr int kMostPods = static_cast<int>(kube::kMaxPods);

double PeakRssMiB() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;  // kB
  }
  return 0;
}

// Allocated from the heap's arenas and in blocks of their own (large vectors are mmapped).
double HeapInUseBytes() {
  const struct mallinfo2 info = mallinfo2();
  return static_cast<double>(info.uordblks + info.hblkhd);
}

// Deployments of one replica whose containers carry 40 environment variables each, until the
// text is `bytes` long: a large input of few pods, so the input bound is what is reached.
std::string LargeManifests(size_t bytes) {
  std::string yaml;
  for (int d = 0; yaml.size() < bytes; ++d) {
    std::string doc = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: svc-" +
                      std::to_string(d) +
                      "}\nspec:\n  replicas: 1\n  template:\n    spec:\n      containers:\n"
                      "      - name: server\n        resources: {limits: {nvidia.com/gpu: 1}}\n"
                      "        env:\n";
    for (int e = 0; e < 40; ++e) {
      doc += "        - {name: SETTING_" + std::to_string(e) + ", value: \"value-" +
             std::to_string(d) + "-" + std::to_string(e) + "\"}\n";
    }
    doc += "---\n";
    if (yaml.size() + doc.size() > bytes) break;
    yaml += doc;
  }
  return yaml;
}

// One List document of Deployments, `bytes` long at most.
std::string LargeList(size_t bytes) {
  std::string yaml = "apiVersion: v1\nkind: List\nitems:\n";
  for (int d = 0;; ++d) {
    std::string item = "- apiVersion: apps/v1\n  kind: Deployment\n  metadata: {name: svc-" +
                       std::to_string(d) +
                       "}\n  spec:\n    replicas: 1\n    template:\n      spec:\n"
                       "        containers:\n        - name: server\n"
                       "          resources: {limits: {nvidia.com/gpu: 1}}\n          env:\n";
    for (int e = 0; e < 40; ++e) {
      item += "          - {name: SETTING_" + std::to_string(e) + ", value: \"value-" +
              std::to_string(d) + "-" + std::to_string(e) + "\"}\n";
    }
    if (yaml.size() + item.size() > bytes) return yaml;
    yaml += item;
  }
}

// One Deployment of `replicas` pods, tolerating the GPU taint, and a NodePool over the catalog.
std::string ManyPods(int replicas) {
  return "apiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata: {name: gpu}\nspec:\n"
         "  template:\n    spec:\n      requirements: []\n"
         "      taints: [{key: nvidia.com/gpu, value: \"true\", effect: NoSchedule}]\n---\n"
         "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: " +
         std::to_string(replicas) +
         "\n  template:\n    metadata: {labels: {app: web}, annotations: "
         "{gpuslice.io/gpu-memory: 6Gi}}\n    spec:\n"
         "      tolerations: [{key: nvidia.com/gpu, operator: Exists}]\n"
         "      containers:\n      - name: server\n        image: example/server:1.0\n"
         "        resources:\n          requests: {cpu: \"2\", memory: 8Gi}\n"
         "          limits: {nvidia.com/gpu: 1}\n";
}

class TempFile {
 public:
  explicit TempFile(const std::string& text) {
    char pattern[] = "/tmp/gpuslice-bench-XXXXXX.yaml";
    const int fd = mkstemps(pattern, 5);
    path_ = pattern;
    if (fd >= 0) close(fd);
    std::ofstream(path_, std::ios::binary) << text;
  }
  ~TempFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void BM_ReadLargestInput(benchmark::State& state) {
  const TempFile file(LargeManifests(io::kMaxInputBytes - 4096));
  size_t pods = 0;
  for (auto _ : state) {
    Result<kube::Manifests> manifests = kube::LoadManifests({file.path()});
    if (!manifests.ok()) {
      state.SkipWithError(manifests.status().ToString().c_str());
      return;
    }
    pods = manifests->pods.size();
  }
  state.counters["input_MiB"] = static_cast<double>(io::kMaxInputBytes) / (1 << 20);
  state.counters["pods"] = static_cast<double>(pods);
  state.counters["peak_rss_MiB"] = PeakRssMiB();
}
BENCHMARK(BM_ReadLargestInput)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

void BM_ReadLargestDocument(benchmark::State& state) {
  const std::string yaml = LargeList(core::YamlLimits{}.document_bytes);
  size_t pods = 0;
  for (auto _ : state) {
    kube::Manifests manifests;
    const Status parsed = kube::ParseManifests(yaml, "bench.yaml", &manifests);
    if (!parsed.ok()) {
      state.SkipWithError(parsed.ToString().c_str());
      return;
    }
    pods = manifests.pods.size();
  }
  state.counters["document_MiB"] = static_cast<double>(yaml.size()) / (1 << 20);
  state.counters["pods"] = static_cast<double>(pods);
  state.counters["peak_rss_MiB"] = PeakRssMiB();
}
BENCHMARK(BM_ReadLargestDocument)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

void BM_ReadMostPods(benchmark::State& state) {
  const std::string yaml = ManyPods(kMostPods);
  double heap_per_pod = 0;
  for (auto _ : state) {
    const double before = HeapInUseBytes();
    kube::Manifests manifests;
    const Status parsed = kube::ParseManifests(yaml, "bench.yaml", &manifests);
    if (!parsed.ok() || manifests.pods.size() != static_cast<size_t>(kMostPods)) {
      state.SkipWithError("the pods were not read");
      return;
    }
    heap_per_pod = (HeapInUseBytes() - before) / kMostPods;
  }
  state.counters["pods"] = kMostPods;
  state.counters["heap_B_per_pod"] = heap_per_pod;
  state.counters["peak_rss_MiB"] = PeakRssMiB();
}
BENCHMARK(BM_ReadMostPods)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

void BM_RefuseOneMorePod(benchmark::State& state) {
  const std::string yaml = ManyPods(kMostPods + 1);
  for (auto _ : state) {
    kube::Manifests manifests;
    if (kube::ParseManifests(yaml, "bench.yaml", &manifests).ok()) {
      state.SkipWithError("one pod over the bound was accepted");
      return;
    }
  }
}
BENCHMARK(BM_RefuseOneMorePod)->Unit(benchmark::kMicrosecond)->UseRealTime();

// `gpuslice plan` on state.range(0) pods of one shape (the default slicing and the optimum).
void BM_PlanPods(benchmark::State& state) {
  const int pods = static_cast<int>(state.range(0));
  kube::Manifests manifests;
  if (!kube::ParseManifests(ManyPods(pods), "bench.yaml", &manifests).ok()) {
    state.SkipWithError("bad manifests");
    return;
  }
  plan::PlanOptions options;
  options.catalog = &plan::BuiltinCatalog();
  for (auto _ : state) {
    Result<plan::Plan> result = plan::MakePlan(manifests, options);
    if (!result.ok()) {
      state.SkipWithError(result.status().ToString().c_str());
      return;
    }
  }
  state.counters["pods"] = pods;
  state.counters["peak_rss_MiB"] = PeakRssMiB();
}
BENCHMARK(BM_PlanPods)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(1)
    ->Arg(10'000)
    ->Arg(20'000)
    ->Arg(kMostPods);

// Nine levels of ten aliases: 10^9 nodes if expanded, about 1 KB of text.
void BM_RefuseAliasBomb(benchmark::State& state) {
  std::string text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int level = 1; level < 9; ++level) {
    // Appended, not operator+: GCC 12 warns falsely (-Wrestrict) on "literal" + string.
    std::string name = "a";
    name += std::to_string(level);
    std::string previous = "*a";
    previous += std::to_string(level - 1);
    text += name;
    text += ": &";
    text += name;
    text += " [";
    for (int i = 0; i < 10; ++i) {
      if (i > 0) text += ", ";
      text += previous;
    }
    text += "]\n";
  }
  for (auto _ : state) {
    if (core::LoadYaml(text, "bomb.yaml").ok()) {
      state.SkipWithError("the bomb was accepted");
      return;
    }
  }
  state.counters["input_B"] = static_cast<double>(text.size());
  state.counters["peak_rss_MiB"] = PeakRssMiB();
}
BENCHMARK(BM_RefuseAliasBomb)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_RefuseInputOverTheLimit(benchmark::State& state) {
  const TempFile file(std::string(io::kMaxInputBytes + 1, '#'));
  for (auto _ : state) {
    if (io::ReadFile(file.path()).ok()) {
      state.SkipWithError("an input over the limit was read");
      return;
    }
  }
}
BENCHMARK(BM_RefuseInputOverTheLimit)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace
}  // namespace gpuslice

BENCHMARK_MAIN();
