// The instance types each NodePool can launch, as Karpenter's scheduling simulation sees them:
// catalog facts turned into well-known labels, capacity and allocatable resources, with the
// cluster's NodeOverlays applied (extra capacity, changed prices) by Karpenter's rules.
#pragma once

#include <string>
#include <vector>

#include "kube/objects.h"
#include "plan/catalog.h"
#include "plan/requirements.h"
#include "plan/resources.h"

namespace gpuslice::plan {

struct InstanceOption {
  const InstanceType* type = nullptr;
  Requirements labels;      // the labels a node of this type gets
  Amounts capacity;         // what NodePool limits count
  Amounts allocatable;      // what pods may request, before DaemonSet overhead
  double price = 0;         // USD/hour after price overlays
  bool launchable = false;  // has an on-demand offering
};

// The labels Karpenter's AWS provider puts on a node of `type` (instance type, family,
// category, generation, size, cpu, memory, GPU name/count/memory/manufacturer, arch, os,
// capacity type, region when known).
Requirements InstanceTypeLabels(const InstanceType& type, const std::string& region);

// For each pool (same order), every catalog type whose labels intersect the pool's
// requirements, with `overlays` applied, cheapest first (types without a price last).
// Overlays are applied as Karpenter applies them: highest weight first (ties: later name
// first), each field from the highest-weight overlay that sets it, capacities merged per
// resource; an overlay that sets the same price or resource as another of equal weight on some
// instance type conflicts and is not applied at all (a warning says so).
// Registers overlay resources in `*space`.
std::vector<std::vector<InstanceOption>> BuildInstanceOptions(
    const Catalog& catalog, const std::vector<kube::NodePool>& pools,
    const std::vector<const kube::NodeOverlay*>& overlays, ResourceSpace* space,
    std::vector<std::string>* warnings);

// The requirements of a NodeClaim from `pool` before any pod: the pool's requirements, its
// template labels and karpenter.sh/nodepool.
Requirements NodePoolRequirements(const kube::NodePool& pool);

}  // namespace gpuslice::plan
