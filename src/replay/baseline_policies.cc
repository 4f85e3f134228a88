// The baselines of the FGD paper, scored the way its reference simulator (the Kubernetes
// scheduler framework with the paper's score plugins) scores them: integer scores 0..100,
// truncated the same way, so nodes tie as often as they did there.
#include <algorithm>
#include <array>

#include "replay/internal/policies.h"
#include "replay/internal/random.h"

namespace gpuslice::replay::internal {
namespace {

// Scales the reference plugins normalize by: the largest node of the trace (128 cores,
// 8 GPUs). They are part of the published scores, not properties of any cluster.
constexpr double kCpuScaleMilli = 128000;
constexpr double kGpuScaleMilli = 8000;
constexpr int64_t kMaxScore = 100;

// Best-fit GPU choice, which the baselines other than Random use for the GPUs.
GpuMask BestFitGpus(const Node& node, const PodRequest& pod) {
  if (!pod.NeedsGpu()) return 0;
  return pod.IsSharing() ? TightestFittingGpu(node, pod) : FirstFullyFreeGpus(node, pod);
}

// A uniformly random node among those that fit, and for a sharing pod a uniformly random GPU
// among those with room.
class RandomPolicy final : public PlacementPolicy {
 public:
  explicit RandomPolicy(uint64_t seed) : rng_(seed) {}

  double ScoreNode(const Node&, const PodRequest&) override { return rng_.Unit(); }

  GpuMask ChooseGpus(const Node& node, const PodRequest& pod) override {
    if (!pod.IsSharing()) return BestFitGpus(node, pod);
    std::array<int, kMaxGpusPerNode> candidates{};
    int count = 0;
    for (int i = 0; i < node.gpu_count; ++i) {
      if (node.gpu_free_milli[i] >= pod.gpu_milli) candidates[count++] = i;
    }
    return GpuMask{1} << candidates[rng_.Below(count)];
  }

  bool ScoresAreReusable() const override { return false; }

 private:
  Rng rng_;
};

// Prefers the node left with the least free CPU and GPU, each normalized and weighted 1/2.
class BestFitPolicy final : public PlacementPolicy {
 public:
  double ScoreNode(const Node& node, const PodRequest& pod) override {
    double leftover =
        static_cast<double>(node.cpu_milli_free - pod.cpu_milli) / kCpuScaleMilli * 0.5;
    leftover +=
        static_cast<double>(node.GpuFreeMilli() - pod.TotalGpuMilli()) / kGpuScaleMilli * 0.5;
    return static_cast<double>(static_cast<int64_t>((1.0 - leftover) * kMaxScore));
  }
  GpuMask ChooseGpus(const Node& node, const PodRequest& pod) override {
    return BestFitGpus(node, pod);
  }
};

// Tetris' alignment heuristic as the reference configures it (dimensions merged, normalized by
// the largest node): the smaller the dot product of the node's free (CPU, GPU) and the pod's
// request, the better.
class DotProductPolicy final : public PlacementPolicy {
 public:
  double ScoreNode(const Node& node, const PodRequest& pod) override {
    const double dot = static_cast<double>(node.cpu_milli_free) / kCpuScaleMilli *
                           (static_cast<double>(pod.cpu_milli) / kCpuScaleMilli) +
                       static_cast<double>(node.GpuFreeMilli()) / kGpuScaleMilli *
                           (static_cast<double>(pod.TotalGpuMilli()) / kGpuScaleMilli);
    const double score = 1 - dot / 2;
    return static_cast<double>(static_cast<int64_t>(kMaxScore * score));
  }
  GpuMask ChooseGpus(const Node& node, const PodRequest& pod) override {
    return BestFitGpus(node, pod);
  }
};

// Packs GPU pods onto GPUs already in use, then onto used nodes, then onto idle nodes with the
// most GPUs. Pods without GPUs score the same everywhere.
class GpuPackingPolicy final : public PlacementPolicy {
 public:
  double ScoreNode(const Node& node, const PodRequest& pod) override {
    if (!pod.NeedsGpu()) return 0;
    const int fully_free = node.FullyFreeGpus();
    if (fully_free == node.gpu_count) {  // an idle node
      return static_cast<double>(std::max<int64_t>(kMaxScore / 3 - fully_free, fully_free));
    }
    // The GPUs the pod would take: the fitting ones with the least free first.
    std::array<int, kMaxGpusPerNode> order{};
    for (int i = 0; i < node.gpu_count; ++i) order[i] = i;
    std::stable_sort(order.begin(), order.begin() + node.gpu_count,
                     [&](int a, int b) { return node.gpu_free_milli[a] < node.gpu_free_milli[b]; });
    int needed = pod.num_gpu;
    int whole_gpus_taken = 0;
    int64_t free_percent_of_taken = 0;
    for (int k = 0; k < node.gpu_count && needed > 0; ++k) {
      const int32_t free = node.gpu_free_milli[order[k]];
      if (free < pod.gpu_milli) continue;
      --needed;
      if (free == kMilliPerGpu) ++whole_gpus_taken;
      free_percent_of_taken += free * 100 / kMilliPerGpu;
    }
    if (whole_gpus_taken > 0) {
      return static_cast<double>(
          std::max<int64_t>(kMaxScore / 2 - whole_gpus_taken, kMaxScore / 3));
    }
    return static_cast<double>(
        std::max<int64_t>(kMaxScore - free_percent_of_taken / 10, kMaxScore / 2));
  }
  GpuMask ChooseGpus(const Node& node, const PodRequest& pod) override {
    return BestFitGpus(node, pod);
  }
};

// Gandiva-style clustering: keeps pods of one kind (sharing, or k whole GPUs) together, and
// within a class prefers the fuller node.
class GpuClusteringPolicy final : public PlacementPolicy {
 public:
  double ScoreNode(const Node& node, const PodRequest& pod) override {
    if (!pod.NeedsGpu()) return 0;
    const int kind = pod.IsSharing() ? 0 : pod.num_gpu;
    int kinds_present = 0;
    for (uint16_t pods : node.gpu_pods_by_kind) kinds_present += pods > 0 ? 1 : 0;
    const int64_t used =
        std::max<int64_t>(0, static_cast<int64_t>(kGpuScaleMilli) - node.GpuFreeMilli());
    const int64_t fullness = kMaxScore / 4 * used / static_cast<int64_t>(kGpuScaleMilli);
    int64_t band = 0;
    if (node.gpu_pods_by_kind[kind] > 0) {
      band = kinds_present == 1 ? 3 : 2;  // only its kind here, or its kind among others
    } else if (kinds_present == 0) {
      band = 1;  // no GPU pods yet
    }
    return static_cast<double>(fullness + band * kMaxScore / 4);
  }
  GpuMask ChooseGpus(const Node& node, const PodRequest& pod) override {
    return BestFitGpus(node, pod);
  }
};

}  // namespace

std::unique_ptr<PlacementPolicy> MakeRandomPolicy(uint64_t seed) {
  return std::make_unique<RandomPolicy>(seed);
}
std::unique_ptr<PlacementPolicy> MakeBestFitPolicy() { return std::make_unique<BestFitPolicy>(); }
std::unique_ptr<PlacementPolicy> MakeDotProductPolicy() {
  return std::make_unique<DotProductPolicy>();
}
std::unique_ptr<PlacementPolicy> MakeGpuPackingPolicy() {
  return std::make_unique<GpuPackingPolicy>();
}
std::unique_ptr<PlacementPolicy> MakeGpuClusteringPolicy() {
  return std::make_unique<GpuClusteringPolicy>();
}

}  // namespace gpuslice::replay::internal
