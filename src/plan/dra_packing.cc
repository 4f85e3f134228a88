#include "plan/dra_packing.h"

#include <set>

#include "core/dra_capacity.h"
#include "core/quantity.h"
#include "kube/claims.h"

namespace gpuslice::plan {
namespace {

struct Share {
  std::string pod;
  uint64_t memory_bytes = 0;
  int compute_percent = 0;
};

struct GpuModel {
  uint64_t memory_bytes = 0;
  std::string name;
  uint64_t reserved_bytes = 0;
  auto operator<=>(const GpuModel&) const = default;
};

DraPacking Pack(const GpuModel& model, const std::vector<Share>& shares,
                const core::DraConfig& policy) {
  DraPacking packing;
  packing.gpu_model = model.name;
  packing.gpu_memory_bytes = model.memory_bytes;
  packing.reserved_memory_bytes = model.reserved_bytes;
  // What the driver publishes as the GPU's memory capacity (dra/device_model.h).
  const uint64_t capacity =
      model.memory_bytes > model.reserved_bytes ? model.memory_bytes - model.reserved_bytes : 0;
  const uint64_t largest = core::LargestClaimMemory(capacity, policy);
  std::vector<std::pair<uint64_t, int>> gpus;  // memory and compute booked on each GPU
  for (const Share& share : shares) {
    const uint64_t memory = core::BookedClaimMemory(share.memory_bytes, policy);
    if (share.compute_percent > 100) {
      packing.too_big.push_back({share.pod, "asks for more than 100 percent of a GPU's compute"});
      continue;
    }
    if (memory > largest) {
      packing.too_big.push_back(
          {share.pod, "asks for " + core::FormatBytes(share.memory_bytes) + " of GPU memory; a " +
                          model.name + " share holds at most " + core::FormatBytes(largest)});
      continue;
    }
    ++packing.shares;
    packing.memory_bytes += memory;
    bool placed = false;
    for (auto& [booked_memory, booked_compute] : gpus) {
      if (booked_memory + memory <= capacity && booked_compute + share.compute_percent <= 100) {
        booked_memory += memory;
        booked_compute += share.compute_percent;
        placed = true;
        break;
      }
    }
    if (!placed) gpus.emplace_back(memory, share.compute_percent);
  }
  packing.gpus = static_cast<int>(gpus.size());
  return packing;
}

}  // namespace

Result<DraPlan> SetAsideDraPods(kube::Manifests* manifests, const Catalog& catalog,
                                const core::DraConfig& policy, const SlicingProfile* profile) {
  DraPlan plan;
  std::vector<Share> shares;
  std::set<std::string> shared_seen;
  std::vector<kube::Pod> rest;
  bool defaulted_memory = false;
  for (kube::Pod& pod : manifests->pods) {
    Result<std::vector<kube::ClaimedRequest>> requests =
        kube::ClaimedRequests(pod, *manifests, kDraDeviceClass);
    if (!requests.ok()) return requests.status();
    if (requests->empty()) {
      rest.push_back(std::move(pod));
      continue;
    }
    ++plan.pods;
    const std::string name = pod.namespace_name + "/" + pod.name;
    for (const kube::ClaimedRequest& claimed : *requests) {
      if (claimed.shared && !shared_seen.insert(claimed.claim + "/" + claimed.request->name).second) {
        continue;
      }
      Share share{name, policy.memory_default_bytes, policy.compute_default_percent};
      const auto memory = claimed.request->capacity.find("memory");
      if (memory != claimed.request->capacity.end()) {
        Result<int64_t> bytes = memory->second.Value();
        if (!bytes.ok()) return bytes.status().WithContext(pod.source.ToString());
        share.memory_bytes = static_cast<uint64_t>(*bytes);
      } else {
        defaulted_memory = true;
      }
      const auto compute = claimed.request->capacity.find("compute");
      if (compute != claimed.request->capacity.end()) {
        Result<int64_t> percent = compute->second.Value();
        if (!percent.ok()) return percent.status().WithContext(pod.source.ToString());
        share.compute_percent = static_cast<int>(std::min<int64_t>(*percent, 101));
      }
      for (int64_t i = 0; i < claimed.request->count; ++i) shares.push_back(share);
    }
  }
  manifests->pods = std::move(rest);
  plan.shares = shares.size();
  if (plan.pods == 0) return plan;

  std::set<GpuModel> models;  // by memory, then name
  for (const kube::NodePool& pool : manifests->node_pools) {
    for (const InstanceType* type : NodePoolTypes(catalog, pool)) {
      if (type->gpu_count == 0 || type->gpu_memory_bytes == 0) continue;
      uint64_t reserved = 0;
      if (profile != nullptr) {
        Result<uint64_t> held = profile->ReservedMemory(*type);
        if (!held.ok()) {
          return held.status().WithContext("instance type " + type->name + " (" +
                                           type->gpu_model + ")");
        }
        reserved = *held;
      }
      models.insert({type->gpu_memory_bytes, type->gpu_model, reserved});
    }
  }
  for (const GpuModel& model : models) plan.packings.push_back(Pack(model, shares, policy));
  plan.warnings.push_back(
      std::to_string(plan.pods) + " pods ask for GPU shares through DRA (DeviceClass " +
      std::string(kDraDeviceClass) +
      "): Karpenter cannot provision nodes for DRA claims yet (kubernetes-sigs/karpenter#1231), "
      "so they are not in the node counts; the DRA packing says how many GPUs they fill");
  if (defaulted_memory) {
    plan.warnings.push_back(
        "some gpu.gpuslice.io requests name no memory: packed at the policy's default (" +
        core::FormatBytes(policy.memory_default_bytes) +
        "); the chart's admission policy refuses such claims");
  }
  if (models.empty()) {
    plan.warnings.push_back("no NodePool offers a GPU instance type for the DRA shares");
  }
  return plan;
}

}  // namespace gpuslice::plan
