// A ResourceClaim's allocation as the scheduler wrote it (results for this driver, the
// capacity each consumed, share IDs), and the plan that turns it into a container's limits on
// this node's GPUs. Pure functions over JSON: whatever the API server hands over, the answer is
// a value or an error naming the claim and the field, never a crash.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/status.h"
#include "dra/device_model.h"

namespace gpuslice::dra {

struct AllocatedDevice {
  std::string request;  // the claim's request ("gpu", or "gpu/small" for a subrequest)
  std::string pool;
  std::string device;
  std::string share_id;  // empty when the scheduler gave none
  uint64_t memory_bytes = 0;
  int compute_percent = 0;
  // Whether the claim's request named its memory, or left it to the policy's default.
  bool memory_requested = false;
};

struct ClaimAllocation {
  std::string uid;
  std::string namespace_name;
  std::string name;
  std::vector<AllocatedDevice> devices;  // this driver's results, in the claim's order

  std::string Describe() const { return "ResourceClaim " + namespace_name + "/" + name; }
};

// Reads `claim` (a resource.k8s.io/v1 ResourceClaim) for `driver`'s results. Returns
// FailedPrecondition when it is not allocated yet, InvalidArgument naming the field for a
// malformed or unsupported allocation (no result for the driver, adminAccess, a consumed
// capacity that is missing or out of range).
Result<ClaimAllocation> ReadClaimAllocation(const nlohmann::json& claim, std::string_view driver);

// One GPU of a claim and the limits its containers get there.
struct PlannedGpu {
  PublishedGpu gpu;
  uint64_t memory_bytes = 0;
  int compute_percent = 100;  // the limit: 100 for a claim that consumed no compute
  bool env_injection = false;
};

struct ClaimPlan {
  std::vector<PlannedGpu> gpus;  // in GPU index order; several shares of one GPU are summed
};

// How each GPU's profile asks containers to be set up.
struct GpuSetup {
  bool enforce_compute = true;
  bool env_injection = false;
};

// Checks the allocation against this node (pool `pool`, its GPUs and their health) and the
// config, and sums the shares per GPU. Returns NotFound for a device this node lacks,
// FailedPrecondition for an unhealthy GPU, InvalidArgument for another node's pool, a request
// without memory when the config requires it, or more memory than the GPU has. `setups` is
// parallel to `gpus`.
Result<ClaimPlan> PlanClaim(const ClaimAllocation& claim, const std::string& pool,
                            const std::vector<PublishedGpu>& gpus,
                            const std::vector<GpuSetup>& setups, const core::DraConfig& dra);

}  // namespace gpuslice::dra
