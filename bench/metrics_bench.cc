// The per-container part of the plugin's /metrics for 128 containers: what a scrape does after
// the kubelet's PodResources listing (which it takes as given here): read every allocation
// directory's record and limits file, read the regions' device and counter pages and NVML PIDs
// with pread, join them to the listing and to the sampled compute use, and render the text. Goal: <= 10 ms for 128 containers.
// Run build/release/bin/gpuslice-metrics-bench.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/contract.h"
#include "core/region.h"
#include "gpu/gpu_backend.h"
#include "plugin/compute_usage.h"
#include "plugin/container_metrics.h"
#include "plugin/region_store.h"

namespace {

namespace fs = std::filesystem;
using gpuslice::core::contract::FormatLimitsFile;
using gpuslice::core::contract::LimitsFile;
namespace region = gpuslice::core::region;
namespace plugin = gpuslice::plugin;
namespace gpu = gpuslice::gpu;
using gpuslice::Result;
using gpuslice::Status;

constexpr int kContainers = 128;
constexpr int kGpus = 8;

// The driver's per-process samples of 8 GPUs: each container's process busy every 100 ms over
// the last 10 s, as the plugin keeps them.
class SampledGpus : public gpu::GpuBackend {
 public:
  Result<gpu::Discovery> Discover() override { return gpu::Discovery{}; }
  Result<gpu::XidEvent> WaitForXid(std::chrono::milliseconds) override {
    return Status::Unavailable("no events in this benchmark");
  }
  Status CheckGpu(const std::string&) override { return Status::Ok(); }
  Result<std::vector<gpu::ProcessUtilizationSample>> ProcessUtilization(const std::string& uuid,
                                                                        uint64_t) override {
    const int gpu = uuid.back() - '0';
    const auto now = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                               std::chrono::system_clock::now().time_since_epoch())
                                               .count());
    std::vector<gpu::ProcessUtilizationSample> samples;
    for (int tick = 100; tick >= 0; --tick) {
      for (int i = gpu; i < kContainers; i += kGpus) {
        samples.push_back({NvmlPid(i), now - tick * 100'000ULL, 6});
      }
    }
    return samples;
  }
  static unsigned int NvmlPid(int container) { return 100000 + container; }
};

// 128 containers on 8 GPUs of 16 slices, each with a laid-out region in use by one process the
// driver has sampled, in a fresh directory removed at exit.
class Node {
 public:
  Node() {
    char pattern[] = "/tmp/gpuslice-metrics-bench-XXXXXX";
    root_ = mkdtemp(pattern);
    store_ = std::make_unique<plugin::RegionStore>(plugin::RegionStoreOptions{root_ + "/regions"},
                                                   clock_);
    auto laid_out = std::make_unique<region::Region>();
    const region::Header header = region::CurrentHeader();
    std::memcpy(&laid_out->header, &header, sizeof(header));
    for (int i = 0; i < kContainers; ++i) {
      const std::string uuid = "GPU-bench-" + std::to_string(i % kGpus);
      const std::string id = uuid + "::" + std::to_string(i / kGpus);
      LimitsFile limits;
      limits.gpus = {{uuid, 5ULL << 30, 6}};
      limits.region_path = "/var/run/gpuslice/region";
      auto directory =
          store_->Create("nvidia.com/gpu", {id}, {{uuid, 16, 0}}, FormatLimitsFile(limits));
      if (!directory.ok()) std::abort();
      laid_out->devices[0].used_bytes = (1ULL << 30) + i;
      laid_out->counters[0].peak_bytes = 2ULL << 30;
      laid_out->counters[0].refused_allocations = i;
      laid_out->nvml_pids[0] = SampledGpus::NvmlPid(i);
      std::ofstream(*directory + "/region", std::ios::binary)
          .write(reinterpret_cast<const char*>(laid_out.get()), region::kRegionSize);
      live_.push_back({"nvidia.com/gpu", {id}, "default", "pod-" + std::to_string(i), "main"});
    }
    std::vector<std::string> uuids;
    for (int gpu = 0; gpu < kGpus; ++gpu) uuids.push_back("GPU-bench-" + std::to_string(gpu));
    compute_.Sample(uuids);
  }
  ~Node() { fs::remove_all(root_); }

  const plugin::RegionStore& store() const { return *store_; }
  const std::vector<plugin::LiveAllocation>& live() const { return live_; }
  const plugin::ComputeUsage& compute() const { return compute_; }

 private:
  gpuslice::core::SystemClock clock_;
  std::string root_;
  std::unique_ptr<plugin::RegionStore> store_;
  std::vector<plugin::LiveAllocation> live_;
  SampledGpus gpus_;
  plugin::ComputeUsage compute_{gpus_};
};

void BM_ContainerMetrics128(benchmark::State& state) {
  static Node node;
  size_t bytes = 0;
  for (auto _ : state) {
    const std::string text = plugin::RenderContainerMetrics(
        plugin::CollectContainerUsage(node.store().Records(), node.live(), &node.compute()));
    bytes = text.size();
    benchmark::DoNotOptimize(text.data());
  }
  state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_ContainerMetrics128)->Unit(benchmark::kMillisecond);

void BM_RenderOnly128(benchmark::State& state) {
  static Node node;
  const std::vector<plugin::ContainerGpuUsage> usage =
      plugin::CollectContainerUsage(node.store().Records(), node.live(), &node.compute());
  for (auto _ : state) {
    const std::string text = plugin::RenderContainerMetrics(usage);
    benchmark::DoNotOptimize(text.data());
  }
}
BENCHMARK(BM_RenderOnly128)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
