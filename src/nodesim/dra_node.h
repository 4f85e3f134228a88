// The DRA side of a simulated node: pods' claims for gpu.gpuslice.io booked on the node's
// GPUs the way kube-scheduler books consumable capacity (first GPU with room, in index order,
// amounts rounded up by the request policy), then prepared by the DRA driver's own
// ClaimPreparer, so each container's limits are what NodePrepareResources would hand it.
#pragma once

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/config.h"
#include "dra/claim_preparer.h"
#include "kube/claims.h"
#include "nodesim/node_sim.h"
#include "plugin/allocator.h"
#include "plugin/inventory.h"
#include "plugin/region_store.h"

namespace gpuslice::nodesim {

// Not thread-safe.
class DraNode {
 public:
  // `dir` is a private directory for regions and CDI specs; `config` supplies the request
  // policies (config.dra) and the library directory. `inventory` must outlive the node.
  DraNode(const std::string& dir, const core::Config& config, const plugin::Inventory& inventory);

  // Books and prepares the claims `requests` of `pod`. Returns the containers' placements, or
  // the reason the pod would stay Pending (nothing is booked then).
  Result<std::vector<ContainerPlacement>> Admit(const kube::Pod& pod,
                                                const std::vector<kube::ClaimedRequest>& requests);

 private:
  struct Booking {
    uint64_t memory_bytes = 0;
    int compute_percent = 0;
  };
  dra::NodeSnapshot Snapshot() const;

  core::Config config_;
  const plugin::Inventory& inventory_;
  plugin::RegionStore regions_;
  plugin::ContractBuilder contract_;
  std::unique_ptr<dra::ClaimPreparer> preparer_;
  std::vector<Booking> booked_;                     // per inventory GPU
  std::map<std::string, nlohmann::json> claims_;    // "<ns>/<name>" -> allocated claim
  std::map<std::string, dra::PreparedClaim> shared_;  // shared ResourceClaims, prepared once
  int next_uid_ = 0;
};

}  // namespace gpuslice::nodesim
