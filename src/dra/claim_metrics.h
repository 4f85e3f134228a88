// The per-container series in DRA mode: which prepared claim's region each container's
// metrics come from. The kubelet's PodResources listing names a container's claims and their
// devices with the CDI device IDs the driver returned from NodePrepareResources; the driver's
// checkpoint holds, per claim, those IDs and the claim's region directory. Joining the two
// yields the same inputs the device plugin's series are made from (plugin::LiveAllocation),
// with the claim's name added as the `claim` label.
#pragma once

#include <vector>

#include "dra/checkpoint.h"
#include "plugin/kubelet_client.h"
#include "plugin/region_store.h"

namespace gpuslice::dra {

// One LiveAllocation per container claim of `listing` that holds devices of this driver and
// matches a claim of `prepared`: same namespace and name, and one of the listing's CDI device
// IDs among the driver's own (kCdiKind) IDs the claim was prepared with, which carry its UID
// (a claim deleted and created again under the same name is a different claim). The allocation has resource kDriverName and
// the claim's UID as its one device ID, as the claim's region directory records. A claim
// shared by several containers gives one allocation per container, all naming the same
// region. Containers whose claim this driver did not prepare give none.
std::vector<plugin::LiveAllocation> ClaimAllocations(
    const std::vector<plugin::ContainerClaim>& listing,
    const std::vector<PreparedClaim>& prepared);

}  // namespace gpuslice::dra
