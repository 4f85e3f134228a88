#include "replay/cluster.h"

#include <bit>
#include <unordered_set>

namespace gpuslice::replay {
namespace {

int PodKind(const PodRequest& pod) { return pod.IsSharing() ? 0 : pod.num_gpu; }

GpuMask AllGpus(const Node& node) { return (GpuMask{1} << node.gpu_count) - 1; }

std::string Quoted(std::string_view text) {
  std::string quoted(1, '\'');
  quoted.append(text).push_back('\'');
  return quoted;
}

}  // namespace

Status ValidateNodeSpec(const NodeSpec& spec) {
  const std::string where = "node " + Quoted(spec.name) + ": ";
  if (spec.name.empty()) return Status::InvalidArgument("node with an empty name");
  if (spec.cpu_milli < 0) {
    return Status::InvalidArgument(where + "cpu_milli " + std::to_string(spec.cpu_milli) +
                                   " is negative");
  }
  if (spec.memory_mib < 0) {
    return Status::InvalidArgument(where + "memory_mib " + std::to_string(spec.memory_mib) +
                                   " is negative");
  }
  if (spec.gpu_count < 0 || spec.gpu_count > kMaxGpusPerNode) {
    return Status::InvalidArgument(where + "gpu " + std::to_string(spec.gpu_count) +
                                   " is outside 0.." + std::to_string(kMaxGpusPerNode));
  }
  if (spec.gpu_count > 0 && spec.gpu_model.empty()) {
    return Status::InvalidArgument(where + "has " + std::to_string(spec.gpu_count) +
                                   " GPUs but no GPU model");
  }
  return Status::Ok();
}

Status ValidatePodSpec(const PodSpec& spec) {
  const std::string where = "pod " + Quoted(spec.name) + ": ";
  if (spec.name.empty()) return Status::InvalidArgument("pod with an empty name");
  if (spec.cpu_milli < 0) {
    return Status::InvalidArgument(where + "cpu_milli " + std::to_string(spec.cpu_milli) +
                                   " is negative");
  }
  if (spec.memory_mib < 0) {
    return Status::InvalidArgument(where + "memory_mib " + std::to_string(spec.memory_mib) +
                                   " is negative");
  }
  if (spec.num_gpu < 0 || spec.num_gpu > kMaxGpusPerNode) {
    return Status::InvalidArgument(where + "num_gpu " + std::to_string(spec.num_gpu) +
                                   " is outside 0.." + std::to_string(kMaxGpusPerNode));
  }
  if (spec.num_gpu == 0 && spec.gpu_milli != 0) {
    return Status::InvalidArgument(where + "gpu_milli " + std::to_string(spec.gpu_milli) +
                                   " without any GPU (num_gpu is 0)");
  }
  if (spec.num_gpu > 0 && (spec.gpu_milli < 1 || spec.gpu_milli > kMilliPerGpu)) {
    return Status::InvalidArgument(where + "gpu_milli " + std::to_string(spec.gpu_milli) +
                                   " is outside 1..1000");
  }
  if (spec.num_gpu > 1 && spec.gpu_milli != kMilliPerGpu) {
    return Status::InvalidArgument(where + "gpu_milli " + std::to_string(spec.gpu_milli) +
                                   " is a fraction but num_gpu is " + std::to_string(spec.num_gpu) +
                                   " (only single-GPU pods share a GPU)");
  }
  return Status::Ok();
}

Result<int> GpuModelTable::Intern(std::string_view name) {
  if (std::optional<int> found = Find(name)) return *found;
  if (size() == kMaxGpuModels) {
    return Status::ResourceExhausted("more than " + std::to_string(kMaxGpuModels) +
                                     " GPU models; cannot add " + Quoted(name));
  }
  names_.emplace_back(name);
  return size() - 1;
}

std::optional<int> GpuModelTable::Find(std::string_view name) const {
  for (int i = 0; i < size(); ++i) {
    if (names_[i] == name) return i;
  }
  return std::nullopt;
}

int64_t Node::GpuFreeMilli() const {
  int64_t total = 0;
  for (int i = 0; i < gpu_count; ++i) total += gpu_free_milli[i];
  return total;
}

int Node::FullyFreeGpus() const { return GpusWithAtLeast(kMilliPerGpu); }

int Node::GpusWithAtLeast(int milli) const {
  int count = 0;
  for (int i = 0; i < gpu_count; ++i) count += gpu_free_milli[i] >= milli ? 1 : 0;
  return count;
}

bool Fits(const Node& node, const PodRequest& pod) {
  if (node.cpu_milli_free < pod.cpu_milli || node.memory_mib_free < pod.memory_mib) return false;
  if (!pod.NeedsGpu()) return true;
  if (node.gpu_count < pod.num_gpu || !pod.models.Contains(node.model)) return false;
  return node.GpusWithAtLeast(pod.gpu_milli) >= pod.num_gpu;
}

GpuMask FirstFullyFreeGpus(const Node& node, const PodRequest& pod) {
  GpuMask mask = 0;
  int needed = pod.num_gpu;
  for (int i = 0; i < node.gpu_count && needed > 0; ++i) {
    if (node.gpu_free_milli[i] == kMilliPerGpu) {
      mask |= GpuMask{1} << i;
      --needed;
    }
  }
  return mask;
}

GpuMask TightestFittingGpu(const Node& node, const PodRequest& pod) {
  int best = -1;
  for (int i = 0; i < node.gpu_count; ++i) {
    const int32_t free = node.gpu_free_milli[i];
    if (free >= pod.gpu_milli && (best < 0 || free < node.gpu_free_milli[best])) best = i;
  }
  return best < 0 ? 0 : GpuMask{1} << best;
}

Result<Cluster> Cluster::Create(const std::vector<NodeSpec>& specs) {
  Cluster cluster;
  cluster.nodes_.reserve(specs.size());
  std::unordered_set<std::string_view> names;
  for (const NodeSpec& spec : specs) {
    GPUSLICE_RETURN_IF_ERROR(ValidateNodeSpec(spec));
    if (!names.insert(spec.name).second) {
      return Status::InvalidArgument("node " + Quoted(spec.name) + " appears twice");
    }
    Node node;
    node.name = spec.name;
    node.cpu_milli_capacity = node.cpu_milli_free = spec.cpu_milli;
    node.memory_mib_capacity = node.memory_mib_free = spec.memory_mib;
    node.gpu_count = spec.gpu_count;
    if (spec.gpu_count > 0) {
      Result<int> model = cluster.models_.Intern(spec.gpu_model);
      if (!model.ok()) return model.status();
      node.model = *model;
    }
    for (int i = 0; i < spec.gpu_count; ++i) node.gpu_free_milli[i] = kMilliPerGpu;
    cluster.gpu_capacity_milli_ += node.GpuCapacityMilli();
    cluster.nodes_.push_back(std::move(node));
  }
  return cluster;
}

Result<PodRequest> Cluster::Resolve(const PodSpec& spec) const {
  GPUSLICE_RETURN_IF_ERROR(ValidatePodSpec(spec));
  PodRequest pod;
  pod.cpu_milli = spec.cpu_milli;
  pod.memory_mib = spec.memory_mib;
  pod.num_gpu = spec.num_gpu;
  pod.gpu_milli = spec.gpu_milli;
  // A GPU model constraint only means something for a pod that uses GPUs.
  if (spec.num_gpu > 0 && !spec.gpu_models.empty()) {
    pod.models.any = false;
    for (const std::string& name : spec.gpu_models) {
      if (std::optional<int> model = models_.Find(name)) pod.models.mask |= uint64_t{1} << *model;
    }
  }
  return pod;
}

Status Cluster::Allocate(size_t index, const PodRequest& pod, GpuMask gpus) {
  if (index >= nodes_.size()) {
    return Status::FailedPrecondition("no node " + std::to_string(index));
  }
  Node& node = nodes_[index];
  if (!Fits(node, pod)) {
    return Status::FailedPrecondition("pod does not fit node " + Quoted(node.name));
  }
  if ((gpus & ~AllGpus(node)) != 0 || std::popcount(gpus) != pod.num_gpu) {
    return Status::FailedPrecondition("GPU set does not name " + std::to_string(pod.num_gpu) +
                                      " GPUs of node " + Quoted(node.name));
  }
  for (int i = 0; i < node.gpu_count; ++i) {
    if ((gpus >> i & 1) != 0 && node.gpu_free_milli[i] < pod.gpu_milli) {
      return Status::FailedPrecondition("GPU " + std::to_string(i) + " of node " +
                                        Quoted(node.name) + " has too little free");
    }
  }
  node.cpu_milli_free -= pod.cpu_milli;
  node.memory_mib_free -= pod.memory_mib;
  for (int i = 0; i < node.gpu_count; ++i) {
    if ((gpus >> i & 1) != 0) node.gpu_free_milli[i] -= pod.gpu_milli;
  }
  if (pod.NeedsGpu()) ++node.gpu_pods_by_kind[PodKind(pod)];
  ++node.version;
  gpu_allocated_milli_ += pod.TotalGpuMilli();
  return Status::Ok();
}

Status Cluster::Release(size_t index, const PodRequest& pod, GpuMask gpus) {
  if (index >= nodes_.size()) {
    return Status::FailedPrecondition("no node " + std::to_string(index));
  }
  Node& node = nodes_[index];
  const bool holds_kind = !pod.NeedsGpu() || node.gpu_pods_by_kind[PodKind(pod)] > 0;
  bool fits_back = holds_kind && (gpus & ~AllGpus(node)) == 0 &&
                   std::popcount(gpus) == pod.num_gpu &&
                   node.cpu_milli_free + pod.cpu_milli <= node.cpu_milli_capacity &&
                   node.memory_mib_free + pod.memory_mib <= node.memory_mib_capacity;
  for (int i = 0; i < node.gpu_count && fits_back; ++i) {
    if ((gpus >> i & 1) != 0) fits_back = node.gpu_free_milli[i] + pod.gpu_milli <= kMilliPerGpu;
  }
  if (!fits_back) {
    return Status::FailedPrecondition("node " + Quoted(node.name) +
                                      " does not hold such a pod on those GPUs");
  }
  node.cpu_milli_free += pod.cpu_milli;
  node.memory_mib_free += pod.memory_mib;
  for (int i = 0; i < node.gpu_count; ++i) {
    if ((gpus >> i & 1) != 0) node.gpu_free_milli[i] += pod.gpu_milli;
  }
  if (pod.NeedsGpu()) --node.gpu_pods_by_kind[PodKind(pod)];
  ++node.version;
  gpu_allocated_milli_ -= pod.TotalGpuMilli();
  return Status::Ok();
}

}  // namespace gpuslice::replay
