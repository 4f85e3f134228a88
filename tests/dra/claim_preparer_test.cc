#include "dra/claim_preparer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "core/clock.h"
#include "fakes/fake_gpu_backend.h"
#include "fakes/temp_dir.h"

namespace gpuslice::dra {
namespace {

using ::testing::HasSubstr;
using nlohmann::json;

constexpr uint64_t kGiB = uint64_t{1} << 30;

std::string Read(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

json Claim(const std::string& name, const std::string& uid, const std::string& device,
           const std::string& memory, const std::string& compute) {
  json claim = {
      {"apiVersion", "resource.k8s.io/v1"},
      {"kind", "ResourceClaim"},
      {"metadata", {{"name", name}, {"namespace", "team"}, {"uid", uid}}},
      {"spec",
       {{"devices",
         {{"requests",
           json::array({{{"name", "gpu"},
                         {"exactly",
                          {{"deviceClassName", "gpu.gpuslice.io"},
                           {"capacity", {{"requests", {{"memory", memory}}}}}}}}})}}}}},
      {"status",
       {{"allocation",
         {{"devices",
           {{"results", json::array({{{"request", "gpu"},
                                      {"driver", "gpu.gpuslice.io"},
                                      {"pool", "node-a"},
                                      {"device", device},
                                      {"shareID", "share-" + uid},
                                      {"consumedCapacity",
                                       {{"memory", memory}, {"compute", compute}}}}})}}}}}}}};
  return claim;
}

class ClaimPreparerTest : public ::testing::Test {
 protected:
  ClaimPreparerTest() : regions_({dir_.Sub("regions")}, core::SystemClock::Get()) {
    std::filesystem::create_directories(dir_.Sub("lib"));
    std::ofstream(dir_.Sub("lib/libgpuslice.so")) << "library";
    contract_ = std::make_unique<plugin::ContractBuilder>(dir_.Sub("lib"), regions_);
    gpus_ = {{testing::MakeGpu(0, "NVIDIA A10G", 23028ULL << 20), 0, ""},
             {testing::MakeGpu(1, "NVIDIA A10G", 23028ULL << 20), 0, ""}};
  }

  PreparerOptions Options() const {
    PreparerOptions options;
    options.cdi_dir = dir_.Sub("cdi");
    options.checkpoint_path = dir_.Sub("plugin/checkpoint.json");
    return options;
  }

  std::unique_ptr<ClaimPreparer> NewPreparer(PreparerOptions options) {
    auto preparer = std::make_unique<ClaimPreparer>(
        options,
        [this](const std::string& ns, const std::string& name) -> Result<json> {
          ++reads_;
          const auto it = claims_.find(ns + "/" + name);
          if (it == claims_.end()) return Status::NotFound("resourceclaims \"" + name + "\" not found");
          return it->second;
        },
        [this] { return NodeSnapshot{"node-a", gpus_, {GpuSetup{}, GpuSetup{}}}; }, *contract_,
        regions_);
    EXPECT_TRUE(preparer->Start().ok());
    return preparer;
  }

  testing::TempDir dir_;
  plugin::RegionStore regions_;
  std::unique_ptr<plugin::ContractBuilder> contract_;
  std::vector<PublishedGpu> gpus_;
  std::map<std::string, json> claims_;
  int reads_ = 0;
};

TEST_F(ClaimPreparerTest, PrepareWritesTheContractIntoACdiSpec) {
  claims_["team/small"] = Claim("small", "uid-1", "gpu-1", "6Gi", "25");
  auto preparer = NewPreparer(Options());
  Result<PreparedClaim> prepared = preparer->Prepare({"uid-1", "team", "small"});
  ASSERT_TRUE(prepared.ok()) << prepared.status().ToString();
  ASSERT_EQ(prepared->devices.size(), 1u);
  const PreparedDevice& device = prepared->devices[0];
  EXPECT_EQ(device.request_names, std::vector<std::string>{"gpu"});
  EXPECT_EQ(device.pool, "node-a");
  EXPECT_EQ(device.device, "gpu-1");
  EXPECT_EQ(device.share_id, "share-uid-1");
  EXPECT_EQ(device.cdi_device_ids,
            std::vector<std::string>{"gpu.gpuslice.io/claim=uid-1-gpu-1"});
  EXPECT_EQ(prepared->cdi_spec_path, dir_.Sub("cdi/gpu.gpuslice.io-uid-1.json"));

  const json spec = json::parse(Read(prepared->cdi_spec_path));
  const json& env = spec["containerEdits"]["env"];
  EXPECT_THAT(env, ::testing::Contains("NVIDIA_VISIBLE_DEVICES=" + gpus_[1].gpu.uuid));
  EXPECT_THAT(env, ::testing::Contains("GPUSLICE_REGION=/var/run/gpuslice/region"));
  EXPECT_EQ(spec["devices"][0]["name"], "uid-1-gpu-1");
  EXPECT_EQ(spec["devices"][0]["containerEdits"]["env"],
            json::array({"GPUSLICE_MEMORY_LIMIT_0=" + std::to_string(6 * kGiB),
                         "GPUSLICE_COMPUTE_LIMIT_0=25"}));
  // The region file alone, and the limits file (what the library trusts) read-only.
  bool region_mounted = false;
  bool limits_mounted = false;
  for (const json& mount : spec["containerEdits"]["mounts"]) {
    if (mount["containerPath"] == "/var/run/gpuslice/region") {
      region_mounted = mount["hostPath"] == prepared->region_dir + "/region";
    }
    if (mount["containerPath"] == "/etc/gpuslice") {
      limits_mounted = mount["hostPath"] == prepared->region_dir + "/limits" &&
                       mount["options"].dump().find("\"ro\"") != std::string::npos;
    }
  }
  EXPECT_TRUE(region_mounted) << spec.dump(2);
  EXPECT_TRUE(limits_mounted) << spec.dump(2);
  EXPECT_EQ(access((prepared->region_dir + "/region").c_str(), F_OK), 0);
  EXPECT_THAT(Read(prepared->region_dir + "/limits/limits"),
              ::testing::HasSubstr("gpu " + gpus_[1].gpu.uuid + " memory " +
                                   std::to_string(6 * kGiB) + " compute 25\n"));
}

TEST_F(ClaimPreparerTest, PrepareIsIdempotentAndSurvivesARestart) {
  claims_["team/small"] = Claim("small", "uid-1", "gpu-0", "4Gi", "0");
  auto preparer = NewPreparer(Options());
  Result<PreparedClaim> first = preparer->Prepare({"uid-1", "team", "small"});
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  Result<PreparedClaim> second = preparer->Prepare({"uid-1", "team", "small"});
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->region_dir, first->region_dir);
  EXPECT_EQ(reads_, 1);
  preparer.reset();

  // A new process: the answer comes from the checkpoint, the claim is not read again.
  auto restarted = NewPreparer(Options());
  Result<PreparedClaim> third = restarted->Prepare({"uid-1", "team", "small"});
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(third->region_dir, first->region_dir);
  EXPECT_EQ(third->devices[0].cdi_device_ids, first->devices[0].cdi_device_ids);
  EXPECT_EQ(reads_, 1);
  // Compute 0 books no share: not throttled.
  EXPECT_THAT(Read(third->cdi_spec_path), HasSubstr("GPUSLICE_COMPUTE_LIMIT_0=100"));

  ASSERT_TRUE(restarted->Unprepare({"uid-1", "team", "small"}).ok());
  EXPECT_EQ(access(first->cdi_spec_path.c_str(), F_OK), -1);
  EXPECT_EQ(access(first->region_dir.c_str(), F_OK), -1);
  EXPECT_TRUE(restarted->Prepared().empty());
  EXPECT_TRUE(restarted->Unprepare({"uid-1", "team", "small"}).ok());
  EXPECT_TRUE(restarted->Unprepare({"never", "team", "prepared"}).ok());
}

TEST_F(ClaimPreparerTest, FailedPrepareLeavesNothingBehind) {
  claims_["team/greedy"] = Claim("greedy", "uid-2", "gpu-0", "30Gi", "10");
  claims_["team/lost"] = Claim("lost", "uid-3", "gpu-5", "1Gi", "10");
  claims_["team/replaced"] = Claim("replaced", "uid-new", "gpu-0", "1Gi", "10");
  auto preparer = NewPreparer(Options());
  Result<PreparedClaim> greedy = preparer->Prepare({"uid-2", "team", "greedy"});
  ASSERT_FALSE(greedy.ok());
  EXPECT_THAT(greedy.status().message(), HasSubstr("ResourceClaim team/greedy: consumes"));
  Result<PreparedClaim> lost = preparer->Prepare({"uid-3", "team", "lost"});
  EXPECT_EQ(lost.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(lost.status().message(), HasSubstr("this node has no device gpu-5"));
  Result<PreparedClaim> replaced = preparer->Prepare({"uid-old", "team", "replaced"});
  EXPECT_EQ(replaced.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(replaced.status().message(), HasSubstr("deleted and created again"));
  Result<PreparedClaim> missing = preparer->Prepare({"uid-4", "team", "missing"});
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("reading ResourceClaim team/missing"));
  EXPECT_EQ(preparer->Prepare({"", "team", "x"}).status().code(), StatusCode::kInvalidArgument);

  std::error_code ignored;
  EXPECT_TRUE(std::filesystem::is_empty(dir_.Sub("regions"), ignored) ||
              !std::filesystem::exists(dir_.Sub("regions")));
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("cdi")) &&
               !std::filesystem::is_empty(dir_.Sub("cdi")));
  EXPECT_TRUE(preparer->Prepared().empty());
}

TEST_F(ClaimPreparerTest, AMissingLibraryIsAClearErrorOnTheClaim) {
  claims_["team/small"] = Claim("small", "uid-1", "gpu-0", "1Gi", "10");
  std::filesystem::remove(dir_.Sub("lib/libgpuslice.so"));
  auto preparer = NewPreparer(Options());
  Result<PreparedClaim> prepared = preparer->Prepare({"uid-1", "team", "small"});
  ASSERT_FALSE(prepared.ok());
  EXPECT_EQ(prepared.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(prepared.status().message(), HasSubstr("enforcement library is not installed"));
}

TEST_F(ClaimPreparerTest, RealGpusWithNvidiaCdiNameNvidiasDeviceToo) {
  claims_["team/small"] = Claim("small", "uid-1", "gpu-0", "1Gi", "10");
  PreparerOptions options = Options();
  options.dra.nvidia_driver = core::NvidiaDriverInjection::kCdi;
  auto preparer = NewPreparer(options);
  Result<PreparedClaim> prepared = preparer->Prepare({"uid-1", "team", "small"});
  ASSERT_TRUE(prepared.ok()) << prepared.status().ToString();
  EXPECT_THAT(prepared->devices[0].cdi_device_ids,
              ::testing::ElementsAre("gpu.gpuslice.io/claim=uid-1-gpu-0",
                                     "nvidia.com/gpu=" + gpus_[0].gpu.uuid));
}

TEST_F(ClaimPreparerTest, StartSweepsWhatAPrepareThatDiedLeft) {
  claims_["team/small"] = Claim("small", "uid-1", "gpu-0", "1Gi", "10");
  auto preparer = NewPreparer(Options());
  Result<PreparedClaim> kept = preparer->Prepare({"uid-1", "team", "small"});
  ASSERT_TRUE(kept.ok());
  // As if a prepare had died after making its region and spec, before the checkpoint.
  Result<std::string> orphan_region =
      regions_.Create("gpu.gpuslice.io", {"uid-dead"}, {{"GPU-x", 1, 0}}, "version 1\n");
  ASSERT_TRUE(orphan_region.ok());
  std::ofstream(dir_.Sub("cdi/gpu.gpuslice.io-uid-dead.json")) << "{}";
  std::ofstream(dir_.Sub("cdi/other-vendor.json")) << "{}";
  preparer.reset();
  auto restarted = NewPreparer(Options());
  EXPECT_FALSE(std::filesystem::exists(*orphan_region));
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("cdi/gpu.gpuslice.io-uid-dead.json")));
  EXPECT_TRUE(std::filesystem::exists(dir_.Sub("cdi/other-vendor.json")));
  EXPECT_TRUE(std::filesystem::exists(kept->region_dir));
  EXPECT_TRUE(std::filesystem::exists(kept->cdi_spec_path));
}

TEST_F(ClaimPreparerTest, AnUnreadableCheckpointIsSetAside) {
  std::filesystem::create_directories(dir_.Sub("plugin"));
  std::ofstream(dir_.Sub("plugin/checkpoint.json")) << "garbage";
  ClaimPreparer preparer(
      Options(), [](const std::string&, const std::string&) -> Result<json> {
        return Status::NotFound("none");
      },
      [this] { return NodeSnapshot{"node-a", gpus_, {}}; }, *contract_, regions_);
  const Status started = preparer.Start();
  EXPECT_EQ(started.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(started.message(), HasSubstr("checkpoint.json.unreadable"));
  EXPECT_TRUE(std::filesystem::exists(dir_.Sub("plugin/checkpoint.json.unreadable")));
}

}  // namespace
}  // namespace gpuslice::dra
