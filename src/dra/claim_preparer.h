// NodePrepareResources and NodeUnprepareResources without the gRPC: a claim's allocation read
// from the API server becomes the Allocate contract (plugin::ContractBuilder) with the claim's
// consumed memory and compute as the limits, delivered through a CDI spec, and recorded in the
// checkpoint. Prepare is idempotent and survives restarts; unprepare removes what prepare made.
#pragma once

#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/status.h"
#include "dra/checkpoint.h"
#include "dra/claim.h"
#include "dra/device_model.h"
#include "plugin/allocator.h"
#include "plugin/region_store.h"

namespace gpuslice::dra {

// A claim as the kubelet names it.
struct ClaimRef {
  std::string uid;
  std::string namespace_name;
  std::string name;
};

// This node as the preparer sees it at the moment of a call.
struct NodeSnapshot {
  std::string pool;
  std::vector<PublishedGpu> gpus;
  std::vector<GpuSetup> setups;  // parallel to gpus
};

struct PreparerOptions {
  std::string cdi_dir = "/var/run/cdi";
  std::string checkpoint_path;
  core::DraConfig dra;
  // On real GPUs with dra.nvidiaDriver cdi, each device also names NVIDIA's CDI device for its
  // GPU (nvidia.com/gpu=<uuid>); simulated GPUs have no NVIDIA driver to inject.
  bool real_gpus = true;
};

// Thread-safe: calls are serialized (the kubelet calls rarely and the work is short).
class ClaimPreparer {
 public:
  // Returns the claim object (resource.k8s.io/v1 ResourceClaim) from the API server.
  using ClaimReader =
      std::function<Result<nlohmann::json>(const std::string& ns, const std::string& name)>;
  using NodeState = std::function<NodeSnapshot()>;

  // `contract` and `regions` must outlive the preparer.
  ClaimPreparer(PreparerOptions options, ClaimReader read_claim, NodeState node,
                const plugin::ContractBuilder& contract, plugin::RegionStore& regions);

  // Loads the checkpoint, and removes the region directories and CDI specs of this driver that
  // no prepared claim names (left by a prepare that died halfway). A checkpoint this driver
  // cannot read is set aside (renamed with a ".unreadable" suffix) and reported, so the driver
  // starts with none.
  Status Start();

  // Returns what the kubelet should hand the claim's containers. A claim prepared before (by
  // this process or an earlier one) gets the same answer without being read again. Errors
  // name the claim: FailedPrecondition when its UID is not the one the kubelet asked for or a
  // GPU is unhealthy, NotFound when the claim or its device is missing, InvalidArgument for an
  // allocation this node cannot honour. A failed prepare leaves nothing behind.
  Result<PreparedClaim> Prepare(const ClaimRef& claim);

  // Removes the claim's CDI spec and region directory and forgets it. OK for a claim that was
  // never prepared (the kubelet may ask twice).
  Status Unprepare(const ClaimRef& claim);

  std::vector<PreparedClaim> Prepared() const;

 private:
  Result<PreparedClaim> PrepareLocked(const ClaimRef& ref);
  void SweepLocked();

  PreparerOptions options_;
  ClaimReader read_claim_;
  NodeState node_;
  const plugin::ContractBuilder& contract_;
  plugin::RegionStore& regions_;
  mutable std::mutex mutex_;
  Checkpoint checkpoint_;
};

}  // namespace gpuslice::dra
