// `gpuslice plan`: what a set of workloads costs on Karpenter GPU NodePools with whole GPUs
// (what Karpenter provisions today), with slices as Karpenter provisions them once the
// NodeOverlays from `gpuslice render` declare them, and at the optimum, side by side.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/status.h"
#include "kube/objects.h"
#include "plan/catalog.h"
#include "plan/optimizer.h"
#include "plan/slicing.h"

namespace gpuslice::plan {

struct PlanOptions {
  const Catalog* catalog = nullptr;  // required
  // How GPUs are sliced. When the manifests hold gpuslice's NodeOverlays, those are what
  // Karpenter sees and they decide; a profile given too is checked against them (warnings).
  // Otherwise the profile, or by default kDefaultSlices slices per GPU of gpuslice.io/slice.
  std::optional<SlicingProfile> profile;
  bool optimize = true;  // also compute the optimum
  OptimizerOptions optimizer;
  std::function<void(std::string_view)> progress;  // optional one-line progress updates
  // The DRA driver's request policies, for pods whose claims ask gpu.gpuslice.io for shares:
  // the config's dra block where `profile` comes from a config (`plan --config`). Each GPU's
  // DRA capacity is its memory less the reservedMemory `profile` gives it.
  core::DraConfig dra_policy;
};

inline constexpr int kDefaultSlices = 4;

struct NodeGroup {
  std::string node_pool;
  std::string instance_type;
  double count = 0;          // fractional only in an LP bound
  double cost_per_hour = 0;  // of all `count` nodes
  int gpus_per_node = 0;
  std::string gpu_model;
  int slices_per_gpu = 1;
};

struct UnschedulablePod {
  std::string pod;  // "namespace/name"
  std::string reason;
};

struct Scenario {
  std::string name;              // "whole", "sliced" or "optimal"
  std::vector<NodeGroup> nodes;  // by NodePool and instance type
  double node_count = 0;
  double gpus = 0;
  double cost_per_hour = 0;
  size_t pods_placed = 0;
  // GPU memory the placed pods state (gpuslice.io/gpu-memory) or, when they state none, get
  // (their GPUs or slices), and the GPU memory of the nodes.
  double gpu_memory_requested = 0;
  double gpu_memory_provisioned = 0;
  std::vector<UnschedulablePod> unschedulable;
  // The optimum only.
  bool lower_bound_only = false;  // too many pods for the integer program: cost is the LP bound
  bool proven_optimal = false;
  double lower_bound = 0;
};

struct DraPlan;

struct Plan {
  size_t pods = 0;  // the pods Karpenter provisions for (DRA pods are apart, in `dra`)
  std::string slicing;  // how GPUs were sliced, for people
  std::string slice_resource;
  std::vector<Scenario> scenarios;  // whole, sliced, then optimal if asked
  std::vector<std::string> warnings;
  // Pods with gpu.gpuslice.io claims, packed by memory (plan/dra_packing.h); null when none.
  std::shared_ptr<const DraPlan> dra;
};

// Returns InvalidArgument for input the plan cannot use (no NodePool, a bad annotation,
// ambiguous slicing), FailedPrecondition when the solver fails.
Result<Plan> MakePlan(const kube::Manifests& manifests, const PlanOptions& options);

// The pool's catalog types, as render and plan slice them.
std::vector<const InstanceType*> NodePoolTypes(const Catalog& catalog, const kube::NodePool& pool);

}  // namespace gpuslice::plan
