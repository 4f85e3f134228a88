// The per-container series of DRA mode: claims the driver prepared, joined to the containers
// the kubelet's PodResources service (a real gRPC server on a unix socket) lists with them.
#include "dra/claim_metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

#include "core/clock.h"
#include "core/region.h"
#include "dra/cdi.h"
#include "dra/claim_preparer.h"
#include "fakes/fake_gpu_backend.h"
#include "fakes/pod_resources_server.h"
#include "fakes/temp_dir.h"
#include "plugin/container_metrics.h"

namespace gpuslice::dra {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using nlohmann::json;

constexpr uint64_t kGiB = uint64_t{1} << 30;

PreparedClaim Prepared(const std::string& uid, const std::string& ns, const std::string& name) {
  PreparedClaim claim;
  claim.uid = uid;
  claim.namespace_name = ns;
  claim.name = name;
  PreparedDevice device;
  device.device = "gpu-0";
  device.cdi_device_ids = {CdiDeviceId(uid + "-gpu-0"), "nvidia.com/gpu=GPU-aaaa"};
  claim.devices.push_back(device);
  return claim;
}

plugin::ContainerClaim Listed(const std::string& pod, const std::string& container,
                              const std::string& claim, const std::string& driver,
                              const std::vector<std::string>& cdi_ids) {
  return {"team", pod, container, "team", claim, {{driver, "node-a", "gpu-0", cdi_ids}}};
}

TEST(ClaimAllocations, NamesEachContainerOfAPreparedClaimWithItsRegionsUid) {
  const std::vector<PreparedClaim> prepared = {Prepared("uid-1", "team", "shared"),
                                               Prepared("uid-2", "team", "solo")};
  const std::vector<plugin::LiveAllocation> live = ClaimAllocations(
      {Listed("web", "main", "shared", "gpu.gpuslice.io", {CdiDeviceId("uid-1-gpu-0")}),
       Listed("web", "sidecar", "shared", "gpu.gpuslice.io", {CdiDeviceId("uid-1-gpu-0")}),
       Listed("batch", "main", "solo", "gpu.gpuslice.io",
              {"nvidia.com/gpu=GPU-aaaa", CdiDeviceId("uid-2-gpu-0")})},
      prepared);
  ASSERT_EQ(live.size(), 3u);
  EXPECT_EQ(live[0].resource, "gpu.gpuslice.io");
  EXPECT_EQ(live[0].device_ids, std::vector<std::string>{"uid-1"});
  EXPECT_EQ(live[0].namespace_name, "team");
  EXPECT_EQ(live[0].pod, "web");
  EXPECT_EQ(live[0].container, "main");
  EXPECT_EQ(live[0].claim, "shared");
  EXPECT_EQ(live[1].device_ids, std::vector<std::string>{"uid-1"});
  EXPECT_EQ(live[1].container, "sidecar");
  EXPECT_EQ(live[2].device_ids, std::vector<std::string>{"uid-2"});
  EXPECT_EQ(live[2].claim, "solo");
}

TEST(ClaimAllocations, LeavesOutClaimsThisDriverDidNotPrepare) {
  const std::vector<PreparedClaim> prepared = {Prepared("uid-old", "team", "again")};
  const std::vector<plugin::LiveAllocation> live = ClaimAllocations(
      {// Another driver's claim, even one whose CDI ID looked like ours.
       Listed("a", "main", "again", "net.example.com", {CdiDeviceId("uid-old-gpu-0")}),
       // The claim deleted and created again: a new UID, so other CDI IDs; NVIDIA's ID for
       // the GPU is the same and tells nothing.
       Listed("b", "main", "again", "gpu.gpuslice.io",
              {CdiDeviceId("uid-new-gpu-0"), "nvidia.com/gpu=GPU-aaaa"}),
       // Our ID, but listed under another claim's name.
       Listed("c", "main", "other", "gpu.gpuslice.io", {CdiDeviceId("uid-old-gpu-0")}),
       // A claim the kubelet reports without devices.
       {"team", "d", "main", "team", "again", {}}},
      prepared);
  EXPECT_TRUE(live.empty());
}

// The whole path a scrape takes in DRA mode, on a claim prepared by the real preparer.
class ClaimMetricsTest : public ::testing::Test {
 protected:
  ClaimMetricsTest() : regions_({dir_.Sub("regions")}, core::SystemClock::Get()) {
    std::filesystem::create_directories(dir_.Sub("lib"));
    std::ofstream(dir_.Sub("lib/libgpuslice.so")) << "library";
    contract_ = std::make_unique<plugin::ContractBuilder>(dir_.Sub("lib"), regions_);
    gpus_ = {{testing::MakeGpu(0, "NVIDIA A10G", 23028ULL << 20), 0, ""}};
  }

  Result<PreparedClaim> Prepare(const std::string& name, const std::string& uid,
                                const std::string& memory) {
    claims_["team/" + name] = json{
        {"apiVersion", "resource.k8s.io/v1"},
        {"kind", "ResourceClaim"},
        {"metadata", {{"name", name}, {"namespace", "team"}, {"uid", uid}}},
        {"spec", {{"devices", {{"requests", json::array({{{"name", "gpu"},
                                                          {"exactly",
                                                           {{"deviceClassName", "gpu.gpuslice.io"},
                                                            {"capacity", {{"requests", {{"memory", memory}}}}}}}}})}}}}},
        {"status",
         {{"allocation",
           {{"devices",
             {{"results", json::array({{{"request", "gpu"},
                                        {"driver", "gpu.gpuslice.io"},
                                        {"pool", "node-a"},
                                        {"device", "gpu-0"},
                                        {"shareID", "share-" + uid},
                                        {"consumedCapacity",
                                         {{"memory", memory}, {"compute", "25"}}}}})}}}}}}}};
    if (preparer_ == nullptr) {
      PreparerOptions options;
      options.cdi_dir = dir_.Sub("cdi");
      options.checkpoint_path = dir_.Sub("plugin/checkpoint.json");
      preparer_ = std::make_unique<ClaimPreparer>(
          options,
          [this](const std::string& ns, const std::string& claim) -> Result<json> {
            const auto it = claims_.find(ns + "/" + claim);
            if (it == claims_.end()) return Status::NotFound(claim);
            return it->second;
          },
          [this] { return NodeSnapshot{"node-a", gpus_, {GpuSetup{}}}; }, *contract_, regions_);
      EXPECT_TRUE(preparer_->Start().ok());
    }
    return preparer_->Prepare({uid, "team", name});
  }

  // What the library would have laid out in the claim's region after its processes allocated
  // `used` bytes on its first GPU.
  static void WriteUsage(const PreparedClaim& claim, uint64_t used) {
    auto laid_out = std::make_unique<core::region::Region>();
    const core::region::Header header = core::region::CurrentHeader();
    std::memcpy(&laid_out->header, &header, sizeof(header));
    laid_out->devices[0].used_bytes = used;
    laid_out->counters[0].peak_bytes = used;
    std::ofstream(claim.region_dir + "/region", std::ios::binary)
        .write(reinterpret_cast<const char*>(laid_out.get()), core::region::kRegionSize);
  }

  // What Driver::RenderContainerMetrics serves.
  std::string Scrape(const std::string& socket) {
    Result<std::vector<plugin::ContainerClaim>> listing =
        plugin::ListContainerClaims(socket, std::chrono::seconds(5));
    EXPECT_TRUE(listing.ok()) << listing.status().ToString();
    if (!listing.ok()) return "";
    return plugin::RenderContainerMetrics(plugin::CollectContainerUsage(
        regions_.Records(), ClaimAllocations(*listing, preparer_->Prepared())));
  }

  testing::TempDir dir_;
  plugin::RegionStore regions_;
  std::unique_ptr<plugin::ContractBuilder> contract_;
  std::vector<PublishedGpu> gpus_;
  std::map<std::string, json> claims_;
  std::unique_ptr<ClaimPreparer> preparer_;
};

TEST_F(ClaimMetricsTest, AClaimsContainersEachGetTheClaimsSeriesWithItsName) {
  Result<PreparedClaim> shared = Prepare("shared", "uid-1", "4Gi");
  ASSERT_TRUE(shared.ok()) << shared.status().ToString();
  Result<PreparedClaim> idle = Prepare("idle", "uid-2", "2Gi");
  ASSERT_TRUE(idle.ok()) << idle.status().ToString();
  WriteUsage(*shared, 3 * kGiB);

  testing::PodResourcesServer kubelet(dir_.Sub("kubelet.sock"));
  ASSERT_TRUE(kubelet.ok());
  kubelet.AddClaimContainer("team", "web", "main", "shared", "gpu.gpuslice.io",
                            shared->devices[0].cdi_device_ids);
  kubelet.AddClaimContainer("team", "web", "sidecar", "shared", "gpu.gpuslice.io",
                            shared->devices[0].cdi_device_ids);
  kubelet.AddClaimContainer("team", "batch", "main", "idle", "gpu.gpuslice.io",
                            idle->devices[0].cdi_device_ids);

  const std::string text = Scrape(dir_.Sub("kubelet.sock"));
  const std::string gpu = gpus_[0].gpu.uuid;
  const auto labels = [&](const std::string& pod, const std::string& container,
                          const std::string& claim) {
    return "{namespace=\"team\",pod=\"" + pod + "\",container=\"" + container + "\",gpu=\"" +
           gpu + "\",resource=\"gpu.gpuslice.io\",claim=\"" + claim + "\"}";
  };
  const std::string three_gib = std::to_string(3 * kGiB);
  // One series set per container of the shared claim, all from its one region.
  EXPECT_THAT(text, HasSubstr("gpuslice_container_memory_used_bytes" +
                              labels("web", "main", "shared") + " " + three_gib + "\n"));
  EXPECT_THAT(text, HasSubstr("gpuslice_container_memory_used_bytes" +
                              labels("web", "sidecar", "shared") + " " + three_gib + "\n"));
  EXPECT_THAT(text, HasSubstr("gpuslice_container_memory_limit_bytes" +
                              labels("web", "main", "shared") + " " + std::to_string(4 * kGiB) +
                              "\n"));
  EXPECT_THAT(text, HasSubstr("gpuslice_container_compute_share_ratio" +
                              labels("web", "main", "shared") + " 0.25\n"));
  // A claim whose containers have not touched the GPU yet reads as all zero.
  EXPECT_THAT(text, HasSubstr("gpuslice_container_memory_used_bytes" +
                              labels("batch", "main", "idle") + " 0\n"));

  // The pod ends: its series go with it at the next scrape.
  kubelet.Set({});
  kubelet.AddClaimContainer("team", "batch", "main", "idle", "gpu.gpuslice.io",
                            idle->devices[0].cdi_device_ids);
  const std::string after = Scrape(dir_.Sub("kubelet.sock"));
  EXPECT_THAT(after, Not(HasSubstr("pod=\"web\"")));
  EXPECT_THAT(after, HasSubstr("pod=\"batch\""));
}

}  // namespace
}  // namespace gpuslice::dra
