// GPU fragmentation as FGD (Weng et al., USENIX ATC '23) measures it, and the host-resource
// stranding gpuslice adds to it.
//
// Given the pod shapes a cluster expects (the target mix), the fragmentation of a node is the
// GPU capacity the expected next pod cannot use there:
//   F_n = sum over shapes m of p_m * frag_n(m)
// where frag_n(m) is all of n's unallocated GPU milli when m cannot run on n (too few GPUs with
// room for it, too little CPU, a GPU model it does not accept, or m uses no GPU at all, since
// such a pod can never use an idle GPU); otherwise it is the free milli on the GPUs that have
// less free than m needs per GPU. Memory does not enter F_n.
//
// F_n looks one pod ahead. Over many pods a node also strands GPUs when its free CPU or memory
// runs out before its free GPUs do: GPU pods bring, on average, rho_cpu CPU milli and rho_mem
// MiB per milli-GPU, so a node with G free milli-GPU, C free CPU and M free memory can host
// pods for at most min(C / rho_cpu, M / rho_mem) of them:
//   S_n = max(0, G - C / rho_cpu, G - M / rho_mem)
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "replay/cluster.h"

namespace gpuslice::replay {

// One expected pod shape and its probability.
struct TargetShape {
  int64_t cpu_milli = 0;
  int num_gpu = 0;
  int gpu_milli = 0;
  ModelSet models = {};
  double memory_mib = 0;  // mean memory of the pods of this shape (not part of the shape)
  double weight = 0;      // probability; the weights of a mix sum to 1
};

// The pod shapes a cluster expects, most frequent first. Immutable; thread-safe.
class TargetPodMix {
 public:
  TargetPodMix() = default;
  // REQUIRES: weights sum to 1, ordered most frequent first.
  explicit TargetPodMix(std::vector<TargetShape> shapes) : shapes_(std::move(shapes)) {}

  // Every shape (CPU, GPU count, milli per GPU, accepted models; pods without GPUs included)
  // of `pods`, weighted by frequency. Equal counts order by larger CPU, then milli, GPU count
  // and model set first, so the mix does not depend on the order of `pods`.
  static TargetPodMix FromPods(const std::vector<PodRequest>& pods);

  // The most frequent shapes that together cover at least `coverage` of the pods, renormalized
  // (FGD's "typical pods": coverage 0.95). REQUIRES: 0 < coverage <= 1.
  TargetPodMix MostFrequent(double coverage) const;

  const std::vector<TargetShape>& shapes() const { return shapes_; }

 private:
  std::vector<TargetShape> shapes_;
};

// What the measures look at on one node: its free resources, possibly after a placement.
struct NodeResources {
  int model = -1;  // GPU model number; -1: no GPU
  int64_t cpu_milli_free = 0;
  int64_t memory_mib_free = 0;
  std::span<const int32_t> gpu_free_milli;

  static NodeResources Of(const Node& node) {
    return {node.model, node.cpu_milli_free, node.memory_mib_free,
            std::span<const int32_t>(node.gpu_free_milli.data(), node.gpu_count)};
  }
};

// Evaluates F_n quickly: the mix is pre-sorted per GPU model into the shapes that always see
// the whole node as fragment and those whose fragment depends on the node's state.
// Immutable after construction; thread-safe.
class FragmentationMeasure {
 public:
  explicit FragmentationMeasure(const TargetPodMix& mix);

  // F_n in milli-GPU.
  double Evaluate(const NodeResources& node) const;

 private:
  struct GpuShape {
    int64_t cpu_milli;
    int num_gpu;
    int gpu_milli;
    double weight;
  };
  struct PerModel {
    double always_fragment = 0;    // total weight of shapes that can never use this model
    std::vector<GpuShape> shapes;  // the other shapes, ascending in gpu_milli
  };
  std::vector<PerModel> per_model_;  // one per possible model number, 0..kMaxGpuModels-1
};

// Evaluates S_n with rho_cpu and rho_mem taken from a mix. Immutable; thread-safe.
class HostStranding {
 public:
  // A mix without GPU shapes strands nothing.
  explicit HostStranding(const TargetPodMix& mix);

  // S_n in milli-GPU.
  double Evaluate(const NodeResources& node) const;

  double cpu_milli_per_gpu_milli() const { return cpu_per_gpu_; }
  double memory_mib_per_gpu_milli() const { return memory_per_gpu_; }

 private:
  double cpu_per_gpu_ = 0;
  double memory_per_gpu_ = 0;
};

}  // namespace gpuslice::replay
