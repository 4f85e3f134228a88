// Calls the plugin makes to the kubelet: registering a resource (Registration service on
// kubelet.sock) and listing which containers hold which devices or DRA claims (PodResources
// service).
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "core/status.h"
#include "plugin/region_store.h"

namespace gpuslice::plugin {

inline constexpr const char* kDevicePluginApiVersion = "v1beta1";

struct RegistrationRequest {
  std::string kubelet_socket;  // path of kubelet.sock
  std::string endpoint;        // the plugin's socket file name, relative to the plugin dir
  std::string resource_name;
  std::chrono::milliseconds timeout{std::chrono::seconds(5)};
};

// Registers one resource. Returns OK when the kubelet accepted it; Unavailable when nothing
// listens on the socket; otherwise the kubelet's refusal.
Status RegisterWithKubelet(const RegistrationRequest& request);

// Lists the devices of every resource the kubelet has assigned to containers (all resources:
// a container keeps what it got under a resource name a later config renamed). Returns
// Unavailable when the PodResources socket is missing or does not answer.
Result<std::vector<LiveAllocation>> ListLiveAllocations(const std::string& pod_resources_socket,
                                                        std::chrono::milliseconds timeout);

// One device of a claim, as the kubelet reports it for a container.
struct ClaimDevice {
  std::string driver;
  std::string pool;
  std::string device;
  std::vector<std::string> cdi_device_ids;  // fully qualified, "vendor.com/class=name"
};

// One DRA claim of one container (PodResources List, dynamic_resources).
struct ContainerClaim {
  std::string namespace_name;  // the pod's
  std::string pod;
  std::string container;
  std::string claim_namespace;
  std::string claim_name;
  std::vector<ClaimDevice> devices;
};

// Lists the claims of every container that has some, with all drivers' devices. Returns
// Unavailable when the PodResources socket is missing or does not answer.
Result<std::vector<ContainerClaim>> ListContainerClaims(const std::string& pod_resources_socket,
                                                        std::chrono::milliseconds timeout);

}  // namespace gpuslice::plugin
