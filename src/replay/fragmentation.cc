#include "replay/fragmentation.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <functional>
#include <map>
#include <tuple>

namespace gpuslice::replay {
namespace {

using ShapeKey = std::tuple<int64_t, int, int, bool, uint64_t>;  // cpu, milli, gpus, any, mask

ShapeKey KeyOf(const PodRequest& pod) {
  // A model constraint means nothing to a pod without GPUs.
  const ModelSet models = pod.NeedsGpu() ? pod.models : ModelSet{};
  return {pod.cpu_milli, pod.gpu_milli, pod.num_gpu, models.any, models.any ? 0 : models.mask};
}

// Weights that differ only by rounding still count as reaching the coverage.
constexpr double kCoverageSlack = 1e-12;

}  // namespace

TargetPodMix TargetPodMix::FromPods(const std::vector<PodRequest>& pods) {
  struct Tally {
    int64_t count = 0;
    double memory_mib = 0;
  };
  std::map<ShapeKey, Tally> tallies;
  for (const PodRequest& pod : pods) {
    Tally& tally = tallies[KeyOf(pod)];
    ++tally.count;
    tally.memory_mib += static_cast<double>(pod.memory_mib);
  }
  std::vector<std::pair<int64_t, ShapeKey>> ranked;
  ranked.reserve(tallies.size());
  for (const auto& [key, tally] : tallies) ranked.emplace_back(tally.count, key);
  std::sort(ranked.begin(), ranked.end(), std::greater<>());

  std::vector<TargetShape> shapes;
  shapes.reserve(ranked.size());
  for (const auto& [count, key] : ranked) {
    const auto& [cpu, milli, gpus, any, mask] = key;
    const double pods_of_shape = static_cast<double>(count);
    shapes.push_back({.cpu_milli = cpu,
                      .num_gpu = gpus,
                      .gpu_milli = milli,
                      .models = ModelSet{any, mask},
                      .memory_mib = tallies[key].memory_mib / pods_of_shape,
                      .weight = pods_of_shape / static_cast<double>(pods.size())});
  }
  return TargetPodMix(std::move(shapes));
}

TargetPodMix TargetPodMix::MostFrequent(double coverage) const {
  assert(coverage > 0 && coverage <= 1);
  std::vector<TargetShape> shapes;
  double covered = 0;
  for (const TargetShape& shape : shapes_) {
    if (covered >= coverage - kCoverageSlack) break;
    shapes.push_back(shape);
    covered += shape.weight;
  }
  for (TargetShape& shape : shapes) shape.weight /= covered;
  return TargetPodMix(std::move(shapes));
}

FragmentationMeasure::FragmentationMeasure(const TargetPodMix& mix) : per_model_(kMaxGpuModels) {
  for (int model = 0; model < kMaxGpuModels; ++model) {
    PerModel& entry = per_model_[model];
    for (const TargetShape& shape : mix.shapes()) {
      if (shape.num_gpu == 0 || !shape.models.Contains(model)) {
        entry.always_fragment += shape.weight;
      } else {
        entry.shapes.push_back({shape.cpu_milli, shape.num_gpu, shape.gpu_milli, shape.weight});
      }
    }
    std::stable_sort(
        entry.shapes.begin(), entry.shapes.end(),
        [](const GpuShape& a, const GpuShape& b) { return a.gpu_milli < b.gpu_milli; });
  }
}

double FragmentationMeasure::Evaluate(const NodeResources& node) const {
  if (node.model < 0 || node.model >= kMaxGpuModels) return 0;
  const PerModel& entry = per_model_[node.model];
  std::array<int32_t, kMaxGpusPerNode> free{};
  const int gpus = static_cast<int>(node.gpu_free_milli.size());
  int64_t idle = 0;
  for (int i = 0; i < gpus; ++i) {
    free[i] = node.gpu_free_milli[i];
    idle += free[i];
  }
  if (idle == 0) return 0;
  std::sort(free.begin(), free.begin() + gpus, std::greater<>());

  const double idle_milli = static_cast<double>(idle);
  double fragment = entry.always_fragment * idle_milli;
  // Shapes ascend in milli per GPU and `free` descends, so one pointer from the small end
  // tracks how many GPUs have room for the current shape and how much free they hold.
  int roomy = gpus;
  int64_t roomy_free = idle;
  for (const GpuShape& shape : entry.shapes) {
    while (roomy > 0 && free[roomy - 1] < shape.gpu_milli) roomy_free -= free[--roomy];
    const bool runs = node.cpu_milli_free >= shape.cpu_milli && roomy >= shape.num_gpu;
    fragment += shape.weight * (runs ? static_cast<double>(idle - roomy_free) : idle_milli);
  }
  return fragment;
}

HostStranding::HostStranding(const TargetPodMix& mix) {
  double cpu = 0;
  double memory = 0;
  double gpu = 0;
  for (const TargetShape& shape : mix.shapes()) {
    if (shape.num_gpu == 0) continue;
    cpu += shape.weight * static_cast<double>(shape.cpu_milli);
    memory += shape.weight * shape.memory_mib;
    gpu += shape.weight * static_cast<double>(shape.num_gpu) * shape.gpu_milli;
  }
  if (gpu > 0) {
    cpu_per_gpu_ = cpu / gpu;
    memory_per_gpu_ = memory / gpu;
  }
}

double HostStranding::Evaluate(const NodeResources& node) const {
  int64_t free_gpu = 0;
  for (int32_t free : node.gpu_free_milli) free_gpu += free;
  double usable = static_cast<double>(free_gpu);
  if (cpu_per_gpu_ > 0) {
    usable = std::min(usable, static_cast<double>(node.cpu_milli_free) / cpu_per_gpu_);
  }
  if (memory_per_gpu_ > 0) {
    usable = std::min(usable, static_cast<double>(node.memory_mib_free) / memory_per_gpu_);
  }
  return std::max(0.0, static_cast<double>(free_gpu) - usable);
}

}  // namespace gpuslice::replay
