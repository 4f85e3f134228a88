#include "plugin/kubelet_client.h"

#include <grpcpp/grpcpp.h>
#include <sys/stat.h>

#include "deviceplugin/v1beta1/api.grpc.pb.h"
#include "plugin/grpc_status.h"
#include "podresources/v1/api.grpc.pb.h"

namespace gpuslice::plugin {
namespace {

std::shared_ptr<grpc::Channel> UnixChannel(const std::string& socket) {
  return grpc::CreateChannel("unix://" + socket, grpc::InsecureChannelCredentials());
}

bool IsSocket(const std::string& path) {
  struct stat info {};
  return stat(path.c_str(), &info) == 0 && S_ISSOCK(info.st_mode);
}

Result<v1::ListPodResourcesResponse> ListPodResources(const std::string& socket,
                                                     std::chrono::milliseconds timeout) {
  if (!IsSocket(socket)) return Status::Unavailable("no PodResources socket at " + socket);
  auto stub = v1::PodResourcesLister::NewStub(UnixChannel(socket));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + timeout);
  v1::ListPodResourcesRequest request;
  v1::ListPodResourcesResponse response;
  GPUSLICE_RETURN_IF_ERROR(FromGrpcStatus(stub->List(&context, request, &response),
                                          "listing pod resources"));
  return response;
}

}  // namespace

Status RegisterWithKubelet(const RegistrationRequest& request) {
  if (!IsSocket(request.kubelet_socket)) {
    return Status::Unavailable("no kubelet socket at " + request.kubelet_socket);
  }
  auto stub = v1beta1::Registration::NewStub(UnixChannel(request.kubelet_socket));
  v1beta1::RegisterRequest message;
  message.set_version(kDevicePluginApiVersion);
  message.set_endpoint(request.endpoint);
  message.set_resource_name(request.resource_name);
  message.mutable_options()->set_get_preferred_allocation_available(true);
  message.mutable_options()->set_pre_start_required(false);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + request.timeout);
  context.set_wait_for_ready(false);
  v1beta1::Empty reply;
  return FromGrpcStatus(stub->Register(&context, message, &reply),
                        "registering " + request.resource_name + " with the kubelet");
}

Result<std::vector<LiveAllocation>> ListLiveAllocations(const std::string& pod_resources_socket,
                                                        std::chrono::milliseconds timeout) {
  Result<v1::ListPodResourcesResponse> response = ListPodResources(pod_resources_socket, timeout);
  if (!response.ok()) return response.status();
  std::vector<LiveAllocation> live;
  for (const auto& pod : response->pod_resources()) {
    for (const auto& container : pod.containers()) {
      for (const auto& devices : container.devices()) {
        live.push_back({devices.resource_name(),
                        {devices.device_ids().begin(), devices.device_ids().end()},
                        pod.namespace_(),
                        pod.name(),
                        container.name()});
      }
    }
  }
  return live;
}

Result<std::vector<ContainerClaim>> ListContainerClaims(const std::string& pod_resources_socket,
                                                        std::chrono::milliseconds timeout) {
  Result<v1::ListPodResourcesResponse> response = ListPodResources(pod_resources_socket, timeout);
  if (!response.ok()) return response.status();
  std::vector<ContainerClaim> claims;
  for (const auto& pod : response->pod_resources()) {
    for (const auto& container : pod.containers()) {
      for (const auto& dynamic : container.dynamic_resources()) {
        ContainerClaim claim{pod.namespace_(), pod.name(), container.name(),
                             dynamic.claim_namespace(), dynamic.claim_name(), {}};
        for (const auto& resource : dynamic.claim_resources()) {
          ClaimDevice device{resource.driver_name(), resource.pool_name(),
                             resource.device_name(), {}};
          for (const auto& cdi : resource.cdi_devices()) {
            device.cdi_device_ids.push_back(cdi.name());
          }
          claim.devices.push_back(std::move(device));
        }
        claims.push_back(std::move(claim));
      }
    }
  }
  return claims;
}

}  // namespace gpuslice::plugin
