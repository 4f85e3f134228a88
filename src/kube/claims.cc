#include "kube/claims.h"

namespace gpuslice::kube {

Result<std::vector<ClaimedRequest>> ClaimedRequests(const Pod& pod, const Manifests& manifests,
                                                    std::string_view device_class) {
  std::vector<ClaimedRequest> found;
  for (const PodResourceClaim& entry : pod.spec().resource_claims) {
    const bool is_template = !entry.template_name.empty();
    const std::string& name = is_template ? entry.template_name : entry.claim_name;
    const ClaimSpec* claim = nullptr;
    for (const ClaimSpec& candidate : manifests.claims) {
      if (candidate.is_template == is_template && candidate.name == name &&
          candidate.namespace_name == pod.namespace_name) {
        claim = &candidate;
      }
    }
    if (claim == nullptr) {
      return Status::NotFound(pod.source.ToString() + ": pod " + pod.namespace_name + "/" +
                              pod.name + " names " +
                              (is_template ? "ResourceClaimTemplate " : "ResourceClaim ") +
                              pod.namespace_name + "/" + name +
                              ", which is not in the manifests");
    }
    for (const DeviceRequest& request : claim->requests) {
      if (request.device_class != device_class) continue;
      found.push_back({claim->namespace_name + "/" + claim->name, !is_template, &request});
    }
  }
  return found;
}

}  // namespace gpuslice::kube
