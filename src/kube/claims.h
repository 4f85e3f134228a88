// The devices pods ask for through DRA: each pod's spec.resourceClaims resolved against the
// ResourceClaims and ResourceClaimTemplates of the same manifests.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "kube/objects.h"

namespace gpuslice::kube {

// One request of a pod's claim for a given DeviceClass.
struct ClaimedRequest {
  std::string claim;    // "<namespace>/<name>" of the ResourceClaim or ResourceClaimTemplate
  bool shared = false;  // a ResourceClaim named by several pods: one allocation for all
  const DeviceRequest* request = nullptr;  // points into the Manifests
};

// The requests for `device_class` of every claim `pod` names. Returns NotFound naming the pod
// and the claim when a claim or template it names is not among `manifests`.
Result<std::vector<ClaimedRequest>> ClaimedRequests(const Pod& pod, const Manifests& manifests,
                                                    std::string_view device_class);

}  // namespace gpuslice::kube
