// Placement policies: how a scheduler picks a node for a pod (by scoring every node that fits)
// and which GPUs of that node the pod gets. The replay drives them over a trace; a scheduler
// extender drives them over live nodes. Both go through PlacementPolicy only.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "replay/cluster.h"

namespace gpuslice::replay {

class TargetPodMix;

// A placement policy. One instance serves one sequence of decisions (one replay run, or one
// scheduler); it may keep state between calls, such as a random number stream.
// Not thread-safe: callers serialize calls on one instance.
class PlacementPolicy {
 public:
  virtual ~PlacementPolicy() = default;

  // Returns how much the policy likes `node` for `pod`; the caller places the pod on the node
  // with the highest score and breaks ties by its own node order.
  // REQUIRES: Fits(node, pod).
  virtual double ScoreNode(const Node& node, const PodRequest& pod) = 0;

  // Returns the GPUs of `node` that `pod` gets: exactly pod.num_gpu distinct GPUs, each with at
  // least pod.gpu_milli free; 0 for a pod without GPUs.
  // REQUIRES: Fits(node, pod).
  virtual GpuMask ChooseGpus(const Node& node, const PodRequest& pod) = 0;

  // True when ScoreNode() depends only on its arguments (not on earlier calls), so a caller
  // may reuse a score while the node's `version` and the request are unchanged.
  virtual bool ScoresAreReusable() const { return true; }
};

// What a policy may know about the run it serves.
struct PolicyContext {
  uint64_t seed = 0;  // for policies that decide at random
  // The pod shapes to expect, with every shape seen (TargetPodMix::FromPods); may be null.
  const TargetPodMix* target_mix = nullptr;
};

// The policies gpuslice knows, in the order reports list them.
struct PolicyInfo {
  std::string_view name;          // command-line name, e.g. "best-fit"
  std::string_view display_name;  // table heading, e.g. "BestFit"
  std::string_view summary;       // one line for --help
  bool needs_target_mix = false;  // MakePolicy() fails without PolicyContext::target_mix
};
const std::vector<PolicyInfo>& KnownPolicies();

// Returns the PolicyInfo called `name`, or nullptr.
const PolicyInfo* FindPolicy(std::string_view name);

// Creates the policy called `name` for one run.
// Returns InvalidArgument for an unknown name (listing the known ones), or when the policy
// needs a target mix and `context` has none.
Result<std::unique_ptr<PlacementPolicy>> MakePolicy(std::string_view name,
                                                    const PolicyContext& context);

}  // namespace gpuslice::replay
