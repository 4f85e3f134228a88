// Provisioning as Karpenter's scheduler simulates it, for pending pods and no existing nodes:
// pods sorted by CPU then memory (descending), each with its preferences relaxed one at a time
// until it fits, are tried one by one on the NodeClaims already
// planned (fewest pods first), then on a new NodeClaim from each NodePool in weight order. A
// NodeClaim keeps every instance type that still fits all its pods (requirements, taints,
// allocatable minus that type's DaemonSet overhead, an offering) and launches the cheapest of
// them.
// NodePool limits are charged the largest capacity a new NodeClaim could launch.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "kube/objects.h"
#include "plan/instance_options.h"
#include "plan/requirements.h"
#include "plan/resources.h"

namespace gpuslice::plan {

// One pending pod.
struct PodDemand {
  size_t pod = 0;    // index of the pod in the caller's list
  int shape = 0;     // pods of one shape (a workload's replicas) share constraints and requests
  Amounts requests;  // includes pods=1
  // The pod's node selector with each required node-affinity term; one entry when the pod has
  // no required affinity.
  std::vector<Requirements> alternatives;
  // What Karpenter tries the pod with, in order: `alternatives` with its preferred node-affinity
  // terms first, heaviest first (equal to `alternatives` without preferences).
  std::vector<Requirements> relaxations;
  const std::vector<kube::Toleration>* tolerations = nullptr;  // never null
};

// A NodePool as the scheduler uses it.
struct NodePoolTemplate {
  const kube::NodePool* pool = nullptr;
  Requirements requirements;            // plan::NodePoolRequirements(*pool)
  std::vector<InstanceOption> options;  // cheapest first
  // Per option (same order): the requests of the DaemonSets Karpenter expects on such a node.
  std::vector<Amounts> daemon_overhead;
  Amounts limits;  // kUnlimited where the pool sets no limit
};

struct PlannedNode {
  int pool = 0;              // index into the templates
  int option = 0;            // index into that template's options: the cheapest that fits
  std::vector<size_t> pods;  // indices into the demands
};

struct UnplacedPod {
  size_t demand = 0;
  std::string reason;
};

struct Provisioning {
  std::vector<PlannedNode> nodes;
  std::vector<UnplacedPod> unplaced;
};

// REQUIRES: `pools` ordered as Karpenter tries them (weight, then name, descending).
Provisioning Provision(const std::vector<PodDemand>& pods,
                       const std::vector<NodePoolTemplate>& pools, const ResourceSpace& space);

}  // namespace gpuslice::plan
