#include "dra/device_model.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fakes/fake_gpu_backend.h"

namespace gpuslice::dra {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;

PublishedGpu A10G(int index = 0) {
  PublishedGpu gpu{testing::MakeGpu(index, "NVIDIA A10G", 23028 * kMiB), 0, ""};
  gpu.gpu.compute_major = 8;
  gpu.gpu.compute_minor = 6;
  gpu.gpu.pci_bus_id = "00000000:1E:00.0";
  return gpu;
}

NodeFacts Node() { return {"node-a", "uid-of-node-a", "580.65.06", 13000}; }

TEST(DeviceModel, NamesFamiliesAndVersions) {
  EXPECT_EQ(DeviceName(testing::MakeGpu(3, "x", 1)), "gpu-3");
  EXPECT_EQ(ModelFamily(9, 0), "hopper");
  EXPECT_EQ(ModelFamily(8, 0), "ampere");
  EXPECT_EQ(ModelFamily(8, 6), "ampere");
  EXPECT_EQ(ModelFamily(8, 9), "ada-lovelace");
  EXPECT_EQ(ModelFamily(7, 5), "turing");
  EXPECT_EQ(ModelFamily(7, 0), "volta");
  EXPECT_EQ(ModelFamily(10, 0), "blackwell");
  EXPECT_EQ(ModelFamily(-1, -1), "");
  EXPECT_EQ(SemverOf("580.65.06"), "580.65.6");
  EXPECT_EQ(SemverOf("535.104"), "535.104.0");
  EXPECT_EQ(SemverOf("570"), "570.0.0");
  EXPECT_EQ(SemverOf("r570.1"), "");
  EXPECT_EQ(SemverOf("99999999999.1.1"), "");
}

TEST(DeviceModel, MemoryPolicyFitsTheGpuLessItsReservation) {
  core::DraConfig dra;  // min 256Mi, step 256Mi, default 1Gi
  PublishedGpu gpu = A10G();
  EXPECT_EQ(UsableMemory(gpu), 23028 * kMiB);
  // 256Mi + 88 steps of 256Mi = 22784Mi, the largest amount on the grid below 23028Mi.
  EXPECT_EQ(MaxClaimMemory(gpu, dra), 22784 * kMiB);
  gpu.reserved_memory_bytes = 1024 * kMiB;
  EXPECT_EQ(MaxClaimMemory(gpu, dra), 21760 * kMiB);
  gpu.reserved_memory_bytes = 23000 * kMiB;
  EXPECT_EQ(MaxClaimMemory(gpu, dra), 0u);
}

TEST(DeviceModel, DeviceCarriesAttributesCapacitiesAndSharing) {
  const nlohmann::json device = BuildDevice(A10G(2), Node(), core::DraConfig{});
  EXPECT_EQ(device["name"], "gpu-2");
  EXPECT_EQ(device["allowMultipleAllocations"], true);
  const nlohmann::json& attributes = device["attributes"];
  EXPECT_EQ(attributes["uuid"]["string"], A10G(2).gpu.uuid);
  EXPECT_EQ(attributes["index"]["int"], 2);
  EXPECT_EQ(attributes["productName"]["string"], "NVIDIA A10G");
  EXPECT_EQ(attributes["memory"]["int"], A10G(2).gpu.memory_bytes);
  EXPECT_EQ(attributes["family"]["string"], "ampere");
  EXPECT_EQ(attributes["computeCapability"]["version"], "8.6.0");
  EXPECT_EQ(attributes["driverVersion"]["version"], "580.65.6");
  EXPECT_EQ(attributes["cudaDriverVersion"]["version"], "13.0.0");
  EXPECT_EQ(attributes["pciBusID"]["string"], "00000000:1E:00.0");
  const nlohmann::json& memory = device["capacity"]["memory"];
  EXPECT_EQ(memory["value"], std::to_string(23028 * kMiB));
  EXPECT_EQ(memory["requestPolicy"]["default"], std::to_string(1024 * kMiB));
  EXPECT_EQ(memory["requestPolicy"]["validRange"]["min"], std::to_string(256 * kMiB));
  EXPECT_EQ(memory["requestPolicy"]["validRange"]["max"], std::to_string(22784 * kMiB));
  EXPECT_EQ(memory["requestPolicy"]["validRange"]["step"], std::to_string(256 * kMiB));
  const nlohmann::json& compute = device["capacity"]["compute"];
  EXPECT_EQ(compute["value"], "100");
  EXPECT_EQ(compute["requestPolicy"]["default"], "0");
  EXPECT_EQ(compute["requestPolicy"]["validRange"]["max"], "100");
  EXPECT_FALSE(device.contains("taints"));
}

TEST(DeviceModel, UnhealthyGpuIsTaintedNoSchedule) {
  PublishedGpu gpu = A10G();
  gpu.unhealthy_reason = "stopped answering: GPU is lost (XID 79)";
  const nlohmann::json device = BuildDevice(gpu, Node(), core::DraConfig{});
  ASSERT_EQ(device["taints"].size(), 1u);
  EXPECT_EQ(device["taints"][0]["key"], "gpu.gpuslice.io/unhealthy");
  EXPECT_EQ(device["taints"][0]["effect"], "NoSchedule");
  EXPECT_EQ(device["taints"][0]["value"], "stopped-answering--GPU-is-lost--XID-79");
}

TEST(DeviceModel, SliceIsOnePoolPerNodeOwnedByTheNode) {
  PublishedGpu tiny{testing::MakeGpu(1, "tiny", 100 * kMiB), 0, ""};
  const nlohmann::json slice =
      BuildResourceSlice({A10G(0), tiny, A10G(2)}, Node(), core::DraConfig{}, 7);
  EXPECT_EQ(slice["apiVersion"], "resource.k8s.io/v1");
  EXPECT_EQ(slice["metadata"]["name"], "node-a-gpu.gpuslice.io");
  EXPECT_EQ(slice["metadata"]["ownerReferences"][0]["kind"], "Node");
  EXPECT_EQ(slice["metadata"]["ownerReferences"][0]["uid"], "uid-of-node-a");
  EXPECT_EQ(slice["spec"]["driver"], "gpu.gpuslice.io");
  EXPECT_EQ(slice["spec"]["nodeName"], "node-a");
  EXPECT_EQ(slice["spec"]["pool"]["name"], "node-a");
  EXPECT_EQ(slice["spec"]["pool"]["generation"], 7);
  EXPECT_EQ(slice["spec"]["pool"]["resourceSliceCount"], 1);
  // The GPU too small for the smallest claim is not offered.
  ASSERT_EQ(slice["spec"]["devices"].size(), 2u);
  EXPECT_EQ(slice["spec"]["devices"][1]["name"], "gpu-2");
  NodeFacts anonymous = Node();
  anonymous.node_uid.clear();
  EXPECT_FALSE(BuildResourceSlice({A10G()}, anonymous, core::DraConfig{}, 1)["metadata"].contains(
      "ownerReferences"));
}

TEST(DeviceModel, LongNodeNamesStillMakeAValidSliceName) {
  const std::string node(250, 'n');
  const std::string name = SliceName(node);
  EXPECT_LE(name.size(), 253u);
  EXPECT_THAT(name, ::testing::EndsWith("-gpu.gpuslice.io"));
  EXPECT_NE(SliceName(node + "x"), name);
}

}  // namespace
}  // namespace gpuslice::dra
