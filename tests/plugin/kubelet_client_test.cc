// The PodResources client against a real gRPC server on a unix socket: device plugin
// allocations and DRA claims, as the kubelet lists them.
#include "plugin/kubelet_client.h"

#include <gtest/gtest.h>

#include "fakes/pod_resources_server.h"
#include "fakes/temp_dir.h"

namespace gpuslice::plugin {
namespace {

constexpr std::chrono::seconds kTimeout{5};

TEST(KubeletClient, ListsEachContainersClaimsWithTheirDevicesAndCdiIds) {
  testing::TempDir dir;
  testing::PodResourcesServer server(dir.Sub("kubelet.sock"));
  ASSERT_TRUE(server.ok());
  v1::ContainerResources* main = server.AddClaimContainer(
      "team-a", "trainer", "main", "trainer-gpu", "gpu.gpuslice.io",
      {"gpu.gpuslice.io/claim=uid-1-gpu-0", "gpu.gpuslice.io/claim=uid-1-gpu-1"});
  // A device plugin's devices beside the claim, in the same container.
  v1::ContainerDevices* devices = main->add_devices();
  devices->set_resource_name("nvidia.com/gpu");
  devices->add_device_ids("GPU-aaaa::0");
  server.AddClaimContainer("team-a", "trainer", "sidecar", "trainer-gpu", "gpu.gpuslice.io",
                           {"gpu.gpuslice.io/claim=uid-1-gpu-0"});
  server.AddClaimContainer("team-b", "other", "main", "nic", "net.example.com", {});

  Result<std::vector<ContainerClaim>> claims = ListContainerClaims(dir.Sub("kubelet.sock"), kTimeout);
  ASSERT_TRUE(claims.ok()) << claims.status().ToString();
  ASSERT_EQ(claims->size(), 3u);
  const ContainerClaim& first = (*claims)[0];
  EXPECT_EQ(first.namespace_name, "team-a");
  EXPECT_EQ(first.pod, "trainer");
  EXPECT_EQ(first.container, "main");
  EXPECT_EQ(first.claim_namespace, "team-a");
  EXPECT_EQ(first.claim_name, "trainer-gpu");
  ASSERT_EQ(first.devices.size(), 2u);
  EXPECT_EQ(first.devices[1].driver, "gpu.gpuslice.io");
  EXPECT_EQ(first.devices[1].pool, "node-a");
  EXPECT_EQ(first.devices[1].device, "gpu-1");
  EXPECT_EQ(first.devices[1].cdi_device_ids,
            std::vector<std::string>{"gpu.gpuslice.io/claim=uid-1-gpu-1"});
  EXPECT_EQ((*claims)[1].container, "sidecar");
  EXPECT_EQ((*claims)[2].devices.size(), 0u);

  // The device plugin's listing still sees only the devices.
  Result<std::vector<LiveAllocation>> live = ListLiveAllocations(dir.Sub("kubelet.sock"), kTimeout);
  ASSERT_TRUE(live.ok()) << live.status().ToString();
  ASSERT_EQ(live->size(), 1u);
  EXPECT_EQ((*live)[0].resource, "nvidia.com/gpu");
  EXPECT_EQ((*live)[0].container, "main");
  EXPECT_TRUE((*live)[0].claim.empty());
}

TEST(KubeletClient, ListingClaimsWithoutAKubeletIsUnavailable) {
  testing::TempDir dir;
  Result<std::vector<ContainerClaim>> missing =
      ListContainerClaims(dir.Sub("kubelet.sock"), kTimeout);
  EXPECT_EQ(missing.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(missing.status().message().find(dir.Sub("kubelet.sock")), std::string::npos);

  // Once the kubelet stops serving, listing fails again rather than answer with nothing.
  {
    testing::PodResourcesServer server(dir.Sub("kubelet.sock"));
    ASSERT_TRUE(server.ok());
    EXPECT_TRUE(ListContainerClaims(dir.Sub("kubelet.sock"), kTimeout).ok());
  }
  EXPECT_FALSE(ListContainerClaims(dir.Sub("kubelet.sock"), std::chrono::milliseconds(500)).ok());
}

}  // namespace
}  // namespace gpuslice::plugin
