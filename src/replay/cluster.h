// The cluster model a placement policy reasons about: nodes with CPU, memory, one GPU model and
// the free milli-GPU of each GPU, and the requests pods make of them. A pod asking for num_gpu
// k and gpu_milli m needs its CPU and memory, a GPU model it accepts, and k distinct GPUs each
// with at least m milli free. 1000 milli is one whole GPU; fractions below 1000 exist only for
// single-GPU pods (GPU sharing).
//
// The model is independent of where nodes and pods come from: the replay builds it from a
// production trace, a scheduler extender from the Kubernetes objects it is asked about (a
// request sized in GPU memory converts to milli against the GPU model's memory).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace gpuslice::replay {

inline constexpr int kMilliPerGpu = 1000;
inline constexpr int kMaxGpusPerNode = 16;
inline constexpr int kMaxGpuModels = 64;

// A set of GPUs on one node: bit i is GPU i.
using GpuMask = uint32_t;
static_assert(kMaxGpusPerNode <= 32, "GpuMask must hold one bit per GPU");

// What a node offers, as read from a node list.
struct NodeSpec {
  std::string name = {};
  int64_t cpu_milli = 0;       // allocatable CPU, 1000 = one core
  int64_t memory_mib = 0;      // allocatable memory
  int gpu_count = 0;           // 0..kMaxGpusPerNode
  std::string gpu_model = {};  // empty when gpu_count == 0
};

// What a pod asks for, as read from a pod list.
struct PodSpec {
  std::string name = {};
  int64_t cpu_milli = 0;
  int64_t memory_mib = 0;
  int num_gpu = 0;  // 0..kMaxGpusPerNode
  // Per GPU: 0 when num_gpu == 0, else 1..1000 (below 1000 only if num_gpu == 1).
  int gpu_milli = 0;
  std::vector<std::string> gpu_models = {};  // accepted GPU models; empty = any
};

// Returns InvalidArgument naming the field and value when `spec` breaks the rules above.
Status ValidateNodeSpec(const NodeSpec& spec);
Status ValidatePodSpec(const PodSpec& spec);

// The GPU models a cluster has, numbered 0.. in order of first appearance, so a pod's
// accepted models are a bit mask. Thread-compatible.
class GpuModelTable {
 public:
  // Returns the number of `name`, adding it if new; ResourceExhausted past kMaxGpuModels.
  Result<int> Intern(std::string_view name);
  // Returns the number of `name`, or nullopt when the cluster has no such model.
  std::optional<int> Find(std::string_view name) const;
  const std::string& Name(int model) const { return names_[model]; }
  int size() const { return static_cast<int>(names_.size()); }

 private:
  std::vector<std::string> names_;
};

// The GPU models a pod accepts.
struct ModelSet {
  bool any = true;    // no constraint
  uint64_t mask = 0;  // when !any: bit i set = model i accepted (0 = nothing in this cluster)

  bool Contains(int model) const {
    return any || (model >= 0 && model < kMaxGpuModels && ((mask >> model) & 1) != 0);
  }
  friend bool operator==(const ModelSet&, const ModelSet&) = default;
};

// A pod's request resolved against one cluster's model table. Plain value; cheap to copy.
struct PodRequest {
  int64_t cpu_milli = 0;
  int64_t memory_mib = 0;
  int num_gpu = 0;
  int gpu_milli = 0;
  ModelSet models = {};

  bool NeedsGpu() const { return num_gpu > 0; }
  // A fraction of one GPU, which other pods may share.
  bool IsSharing() const { return num_gpu == 1 && gpu_milli < kMilliPerGpu; }
  int64_t TotalGpuMilli() const { return static_cast<int64_t>(num_gpu) * gpu_milli; }
  friend bool operator==(const PodRequest&, const PodRequest&) = default;
};

// One node's capacity and what is left of it.
struct Node {
  std::string name;
  int64_t cpu_milli_capacity = 0;
  int64_t memory_mib_capacity = 0;
  int64_t cpu_milli_free = 0;
  int64_t memory_mib_free = 0;
  int model = -1;  // index into the cluster's GpuModelTable; -1 when the node has no GPU
  int gpu_count = 0;
  std::array<int32_t, kMaxGpusPerNode> gpu_free_milli{};  // entries past gpu_count are 0
  // Pods holding GPUs here by kind: [0] sharing pods, [k] pods holding k whole GPUs.
  std::array<uint16_t, kMaxGpusPerNode + 1> gpu_pods_by_kind{};
  // Changes whenever anything above changes, so callers may cache what they derive from a node.
  uint64_t version = 0;

  int64_t GpuCapacityMilli() const { return static_cast<int64_t>(gpu_count) * kMilliPerGpu; }
  int64_t GpuFreeMilli() const;
  int FullyFreeGpus() const;
  // GPUs with at least `milli` free.
  int GpusWithAtLeast(int milli) const;
};

// True when `node` has the CPU, memory, an accepted GPU model and enough GPUs for `pod`.
bool Fits(const Node& node, const PodRequest& pod);

// The first `pod.num_gpu` fully free GPUs by index: how every policy gives a pod whole GPUs.
// REQUIRES: pod.gpu_milli == kMilliPerGpu and node has that many fully free GPUs.
GpuMask FirstFullyFreeGpus(const Node& node, const PodRequest& pod);

// The GPU with the least free milli that still fits a sharing pod, the lowest index on ties.
// REQUIRES: pod.IsSharing() and some GPU fits it.
GpuMask TightestFittingGpu(const Node& node, const PodRequest& pod);

// A set of nodes and the pods placed on them. Copyable (the replay copies one per run).
// Thread-compatible.
class Cluster {
 public:
  // Returns InvalidArgument naming the node when a spec is invalid or a name repeats.
  static Result<Cluster> Create(const std::vector<NodeSpec>& specs);

  const std::vector<Node>& nodes() const { return nodes_; }
  const Node& node(size_t index) const { return nodes_[index]; }
  const GpuModelTable& models() const { return models_; }

  // Resolves `spec` against this cluster's GPU models. Models the cluster does not have are
  // dropped; a pod accepting only such models fits nowhere.
  // Returns InvalidArgument when the spec breaks the rules of ValidatePodSpec.
  Result<PodRequest> Resolve(const PodSpec& spec) const;

  // Places `pod` on node `index` using the GPUs in `gpus`.
  // Returns FailedPrecondition (and changes nothing) unless the node fits the pod and `gpus`
  // names exactly pod.num_gpu GPUs of the node, each with at least pod.gpu_milli free.
  Status Allocate(size_t index, const PodRequest& pod, GpuMask gpus);
  // Undoes an Allocate() with the same arguments.
  // Returns FailedPrecondition (and changes nothing) when that would exceed a capacity.
  Status Release(size_t index, const PodRequest& pod, GpuMask gpus);

  int64_t gpu_capacity_milli() const { return gpu_capacity_milli_; }
  int64_t gpu_allocated_milli() const { return gpu_allocated_milli_; }

 private:
  std::vector<Node> nodes_;
  GpuModelTable models_;
  int64_t gpu_capacity_milli_ = 0;
  int64_t gpu_allocated_milli_ = 0;
};

}  // namespace gpuslice::replay
