#include "dra/claim_metrics.h"

#include <map>
#include <string>

#include "dra/cdi.h"
#include "dra/device_model.h"

namespace gpuslice::dra {

std::vector<plugin::LiveAllocation> ClaimAllocations(
    const std::vector<plugin::ContainerClaim>& listing,
    const std::vector<PreparedClaim>& prepared) {
  // The driver's own CDI IDs, which carry the claim's UID; NVIDIA's (nvidia.com/gpu=<uuid>)
  // are shared by every claim on a GPU and tell nothing apart.
  const std::string own_prefix = std::string(kCdiKind) + "=";
  std::map<std::string, const PreparedClaim*> by_cdi_id;
  for (const PreparedClaim& claim : prepared) {
    for (const PreparedDevice& device : claim.devices) {
      for (const std::string& id : device.cdi_device_ids) {
        if (id.rfind(own_prefix, 0) == 0) by_cdi_id[id] = &claim;
      }
    }
  }
  std::vector<plugin::LiveAllocation> live;
  for (const plugin::ContainerClaim& entry : listing) {
    const PreparedClaim* match = nullptr;
    for (const plugin::ClaimDevice& device : entry.devices) {
      if (device.driver != kDriverName) continue;
      for (const std::string& id : device.cdi_device_ids) {
        const auto found = by_cdi_id.find(id);
        if (found != by_cdi_id.end() && found->second->namespace_name == entry.claim_namespace &&
            found->second->name == entry.claim_name) {
          match = found->second;
        }
      }
    }
    if (match == nullptr) continue;
    live.push_back({std::string(kDriverName), {match->uid}, entry.namespace_name, entry.pod,
                    entry.container, entry.claim_name});
  }
  return live;
}

}  // namespace gpuslice::dra
