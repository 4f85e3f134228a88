#include "dra/claim.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fakes/fake_gpu_backend.h"
#include "fakes/text_mutator.h"

namespace gpuslice::dra {
namespace {

using ::testing::HasSubstr;
using nlohmann::json;

constexpr uint64_t kGiB = uint64_t{1} << 30;

// A claim as the API server returns it once kube-scheduler allocated it: request "gpu" asked
// for 6Gi and 25 percent, and got a share of gpu-0 in pool node-a.
json AllocatedClaim() {
  return json::parse(R"({
    "apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim",
    "metadata": {"name": "inference-gpu", "namespace": "team", "uid": "uid-1"},
    "spec": {"devices": {"requests": [
      {"name": "gpu", "exactly": {"deviceClassName": "gpu.gpuslice.io",
        "capacity": {"requests": {"memory": "6Gi", "compute": "25"}}}}]}},
    "status": {"allocation": {"devices": {"results": [
      {"request": "gpu", "driver": "gpu.gpuslice.io", "pool": "node-a", "device": "gpu-0",
       "shareID": "4b8cb9b6-5f1e-4c7e-9d6b-7a1b0c9d2e3f",
       "consumedCapacity": {"memory": "6Gi", "compute": "25"}},
      {"request": "nic", "driver": "nic.example.com", "pool": "node-a", "device": "eth1"}]}}}
  })");
}

std::vector<PublishedGpu> NodeGpus() {
  return {{testing::MakeGpu(0, "NVIDIA A10G", 23028ULL << 20), 0, ""},
          {testing::MakeGpu(1, "NVIDIA A10G", 23028ULL << 20), 0, ""}};
}

std::vector<GpuSetup> Setups() { return {GpuSetup{}, GpuSetup{}}; }

TEST(ReadClaimAllocation, ReadsThisDriversResults) {
  Result<ClaimAllocation> claim = ReadClaimAllocation(AllocatedClaim(), "gpu.gpuslice.io");
  ASSERT_TRUE(claim.ok()) << claim.status().ToString();
  EXPECT_EQ(claim->uid, "uid-1");
  EXPECT_EQ(claim->Describe(), "ResourceClaim team/inference-gpu");
  ASSERT_EQ(claim->devices.size(), 1u);
  const AllocatedDevice& device = claim->devices[0];
  EXPECT_EQ(device.request, "gpu");
  EXPECT_EQ(device.pool, "node-a");
  EXPECT_EQ(device.device, "gpu-0");
  EXPECT_EQ(device.share_id, "4b8cb9b6-5f1e-4c7e-9d6b-7a1b0c9d2e3f");
  EXPECT_EQ(device.memory_bytes, 6 * kGiB);
  EXPECT_EQ(device.compute_percent, 25);
  EXPECT_TRUE(device.memory_requested);
}

TEST(ReadClaimAllocation, SubrequestsOfFirstAvailableAreFound) {
  json claim = AllocatedClaim();
  claim["spec"]["devices"]["requests"][0] = json::parse(R"({"name": "gpu", "firstAvailable": [
      {"name": "big", "deviceClassName": "gpu.gpuslice.io"},
      {"name": "small", "deviceClassName": "gpu.gpuslice.io",
       "capacity": {"requests": {"memory": "4Gi"}}}]})");
  claim["status"]["allocation"]["devices"]["results"][0]["request"] = "gpu/small";
  Result<ClaimAllocation> small = ReadClaimAllocation(claim, "gpu.gpuslice.io");
  ASSERT_TRUE(small.ok()) << small.status().ToString();
  EXPECT_TRUE(small->devices[0].memory_requested);
  claim["status"]["allocation"]["devices"]["results"][0]["request"] = "gpu/big";
  EXPECT_FALSE(ReadClaimAllocation(claim, "gpu.gpuslice.io")->devices[0].memory_requested);
}

TEST(ReadClaimAllocation, ErrorsNameTheClaimAndTheField) {
  const auto error = [](const json& claim) {
    Result<ClaimAllocation> result = ReadClaimAllocation(claim, "gpu.gpuslice.io");
    EXPECT_FALSE(result.ok());
    return result.ok() ? Status::Ok() : result.status();
  };
  json unallocated = AllocatedClaim();
  unallocated.erase("status");
  EXPECT_EQ(error(unallocated).code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(error(unallocated).message(), HasSubstr("team/inference-gpu is not allocated"));

  json foreign = AllocatedClaim();
  foreign["status"]["allocation"]["devices"]["results"].erase(0);
  EXPECT_THAT(error(foreign).message(), HasSubstr("has no device of driver gpu.gpuslice.io"));

  json admin = AllocatedClaim();
  admin["status"]["allocation"]["devices"]["results"][0]["adminAccess"] = true;
  EXPECT_THAT(error(admin).message(), HasSubstr("adminAccess"));

  json uncounted = AllocatedClaim();
  uncounted["status"]["allocation"]["devices"]["results"][0].erase("consumedCapacity");
  EXPECT_THAT(error(uncounted).message(), HasSubstr("consumedCapacity is missing"));

  json bad_quantity = AllocatedClaim();
  bad_quantity["status"]["allocation"]["devices"]["results"][0]["consumedCapacity"]["memory"] =
      "six gigs";
  EXPECT_THAT(error(bad_quantity).message(),
              HasSubstr("results[0].consumedCapacity.memory"));

  json too_much = AllocatedClaim();
  too_much["status"]["allocation"]["devices"]["results"][0]["consumedCapacity"]["compute"] = "150";
  EXPECT_THAT(error(too_much).message(), HasSubstr("150 is more than 100 percent"));

  EXPECT_THAT(error(json::array()).message(), HasSubstr("no metadata"));
}

TEST(PlanClaim, LimitsAreTheConsumedCapacity) {
  Result<ClaimAllocation> claim = ReadClaimAllocation(AllocatedClaim(), "gpu.gpuslice.io");
  ASSERT_TRUE(claim.ok());
  Result<ClaimPlan> plan = PlanClaim(*claim, "node-a", NodeGpus(), Setups(), core::DraConfig{});
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  ASSERT_EQ(plan->gpus.size(), 1u);
  EXPECT_EQ(plan->gpus[0].gpu.gpu.index, 0);
  EXPECT_EQ(plan->gpus[0].memory_bytes, 6 * kGiB);
  EXPECT_EQ(plan->gpus[0].compute_percent, 25);
}

TEST(PlanClaim, SharesOfOneGpuAddUpAndGpusComeInIndexOrder) {
  ClaimAllocation claim{"uid", "ns", "c",
                        {{"b", "node-a", "gpu-1", "s1", 2 * kGiB, 10, true},
                         {"a", "node-a", "gpu-0", "s2", 1 * kGiB, 0, true},
                         {"c", "node-a", "gpu-1", "s3", 3 * kGiB, 15, true}}};
  std::vector<GpuSetup> setups = Setups();
  setups[0].env_injection = true;
  Result<ClaimPlan> plan = PlanClaim(claim, "node-a", NodeGpus(), setups, core::DraConfig{});
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  ASSERT_EQ(plan->gpus.size(), 2u);
  EXPECT_EQ(plan->gpus[0].gpu.gpu.index, 0);
  EXPECT_EQ(plan->gpus[0].memory_bytes, 1 * kGiB);
  // No compute consumed: not throttled.
  EXPECT_EQ(plan->gpus[0].compute_percent, 100);
  EXPECT_TRUE(plan->gpus[0].env_injection);
  EXPECT_EQ(plan->gpus[1].memory_bytes, 5 * kGiB);
  EXPECT_EQ(plan->gpus[1].compute_percent, 25);

  setups[1].enforce_compute = false;
  EXPECT_EQ(PlanClaim(claim, "node-a", NodeGpus(), setups, core::DraConfig{})->gpus[1].compute_percent,
            100);
}

TEST(PlanClaim, RefusesWhatThisNodeCannotHonour) {
  const auto error = [](const ClaimAllocation& claim, std::vector<PublishedGpu> gpus = NodeGpus(),
                        core::DraConfig dra = {}) {
    Result<ClaimPlan> plan = PlanClaim(claim, "node-a", gpus, Setups(), dra);
    EXPECT_FALSE(plan.ok());
    return plan.ok() ? Status::Ok() : plan.status();
  };
  const AllocatedDevice share{"gpu", "node-a", "gpu-0", "", 6 * kGiB, 25, true};
  ClaimAllocation claim{"uid", "team", "c", {share}};

  ClaimAllocation elsewhere = claim;
  elsewhere.devices[0].pool = "node-b";
  EXPECT_THAT(error(elsewhere).message(), HasSubstr("node-b/gpu-0 is in another node's pool"));

  ClaimAllocation missing = claim;
  missing.devices[0].device = "gpu-7";
  EXPECT_EQ(error(missing).code(), StatusCode::kNotFound);
  EXPECT_THAT(error(missing).message(),
              HasSubstr("this node has no device gpu-7 (its devices: gpu-0, gpu-1)"));

  std::vector<PublishedGpu> sick = NodeGpus();
  sick[0].unhealthy_reason = "XID 79";
  EXPECT_EQ(error(claim, sick).code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(error(claim, sick).message(), HasSubstr("is unhealthy: XID 79"));

  ClaimAllocation unsized = claim;
  unsized.devices[0].memory_requested = false;
  EXPECT_THAT(error(unsized).message(),
              HasSubstr("request \"gpu\" names no memory. gpu.gpuslice.io sizes every share"));
  core::DraConfig lenient;
  lenient.require_memory = false;
  EXPECT_TRUE(PlanClaim(unsized, "node-a", NodeGpus(), Setups(), lenient).ok());

  ClaimAllocation greedy = claim;
  greedy.devices.push_back({"more", "node-a", "gpu-0", "", 20 * kGiB, 0, true});
  EXPECT_THAT(error(greedy).message(), HasSubstr("bytes of memory on gpu-0, which has"));
}

TEST(ReadClaimAllocationFuzz, MutatedClaimsNeverCrash) {
  testing::TextMutator mutator(20261206, "{}[]\":,0123456789GiM.-truefalsenul ");
  const std::string seed = AllocatedClaim().dump();
  int parsed = 0;
  int planned = 0;
  for (int i = 0; i < 4000; ++i) {
    const json claim = json::parse(mutator.Mutate(seed), nullptr, /*allow_exceptions=*/false);
    if (claim.is_discarded()) continue;
    ++parsed;
    Result<ClaimAllocation> allocation = ReadClaimAllocation(claim, "gpu.gpuslice.io");
    if (!allocation.ok()) continue;
    if (PlanClaim(*allocation, "node-a", NodeGpus(), Setups(), core::DraConfig{}).ok()) ++planned;
  }
  EXPECT_GT(parsed, 500);
  EXPECT_GT(planned, 0);
}

}  // namespace
}  // namespace gpuslice::dra
