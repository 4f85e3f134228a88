// Pods that ask for GPU shares through DRA (claims for DeviceClass gpu.gpuslice.io, sized in
// memory and compute): set apart from the Karpenter simulation, which cannot provision nodes
// for DRA claims yet, and packed onto GPUs by memory and compute the way kube-scheduler
// allocates consumable capacity: each share, in input order, on the first GPU it fits, with
// the request policy's rounding (min + k*step).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/status.h"
#include "kube/objects.h"
#include "plan/catalog.h"
#include "plan/planner.h"
#include "plan/slicing.h"

namespace gpuslice::plan {

inline constexpr std::string_view kDraDeviceClass = "gpu.gpuslice.io";

// One GPU model of the NodePools' instance types, filled with the shares.
struct DraPacking {
  std::string gpu_model;
  uint64_t gpu_memory_bytes = 0;
  // Held back from each GPU by the slicing profile: the driver publishes the rest as capacity.
  uint64_t reserved_memory_bytes = 0;
  int gpus = 0;  // GPUs the shares fill
  size_t shares = 0;
  uint64_t memory_bytes = 0;               // the shares' memory after rounding
  std::vector<UnschedulablePod> too_big;  // shares no GPU of this model can hold
};

struct DraPlan {
  size_t pods = 0;     // pods with at least one gpu.gpuslice.io share
  size_t shares = 0;   // distinct claims' requests (a shared claim counts once)
  std::vector<DraPacking> packings;  // one per GPU model, by memory
  std::vector<std::string> warnings;
};

// Moves the pods with gpu.gpuslice.io claims out of `*manifests` and packs their shares on
// each GPU model of the NodePools' types under `policy` (the driver's config), each GPU's
// capacity being its memory less the reservedMemory `profile` gives it (none without a
// profile). Returns NotFound naming the pod when a claim it names is not in the manifests, and
// InvalidArgument when two of the profile's config profiles match one GPU model.
Result<DraPlan> SetAsideDraPods(kube::Manifests* manifests, const Catalog& catalog,
                                const core::DraConfig& policy,
                                const SlicingProfile* profile = nullptr);

}  // namespace gpuslice::plan
