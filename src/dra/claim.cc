#include "dra/claim.h"

#include <map>

#include "core/quantity.h"

namespace gpuslice::dra {
namespace {

using nlohmann::json;

// The member `key` of `object` when both are what they should be, else null.
const json* Member(const json& object, std::string_view key) {
  if (!object.is_object()) return nullptr;
  const auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

std::string StringMember(const json& object, std::string_view key) {
  const json* value = Member(object, key);
  return value != nullptr && value->is_string() ? value->get<std::string>() : "";
}

// Reads a consumed quantity; InvalidArgument naming `field` when missing or malformed.
Result<int64_t> ConsumedValue(const json& consumed, std::string_view name, const std::string& field) {
  const json* value = Member(consumed, name);
  if (value == nullptr) {
    return Status::InvalidArgument(field + "." + std::string(name) +
                                   " is missing: the scheduler books every capacity of a shared "
                                   "device; is DRAConsumableCapacity off in the cluster?");
  }
  if (!value->is_string()) {
    return Status::InvalidArgument(field + "." + std::string(name) + " is not a quantity");
  }
  Result<core::Quantity> quantity = core::Quantity::Parse(value->get<std::string>());
  if (!quantity.ok()) return quantity.status().WithContext(field + "." + std::string(name));
  Result<int64_t> number = quantity->Value();
  if (!number.ok()) return number.status().WithContext(field + "." + std::string(name));
  if (*number < 0) {
    return Status::InvalidArgument(field + "." + std::string(name) + ": " +
                                   value->get<std::string>() + " is negative");
  }
  return number;
}

// Whether the claim's request `request` ("name" or "name/subrequest") names `capacity`.
bool RequestNames(const json& claim, const std::string& request, std::string_view capacity) {
  const json* spec = Member(claim, "spec");
  const json* devices = spec != nullptr ? Member(*spec, "devices") : nullptr;
  const json* requests = devices != nullptr ? Member(*devices, "requests") : nullptr;
  if (requests == nullptr || !requests->is_array()) return false;
  const size_t slash = request.find('/');
  const std::string name = request.substr(0, slash);
  const std::string subrequest = slash == std::string::npos ? "" : request.substr(slash + 1);
  auto names = [&](const json& exact) {
    const json* wanted = Member(exact, "capacity");
    const json* amounts = wanted != nullptr ? Member(*wanted, "requests") : nullptr;
    return amounts != nullptr && Member(*amounts, capacity) != nullptr;
  };
  for (const json& entry : *requests) {
    if (StringMember(entry, "name") != name) continue;
    if (subrequest.empty()) {
      const json* exact = Member(entry, "exactly");
      return exact != nullptr && names(*exact);
    }
    const json* alternatives = Member(entry, "firstAvailable");
    if (alternatives == nullptr || !alternatives->is_array()) return false;
    for (const json& alternative : *alternatives) {
      if (StringMember(alternative, "name") == subrequest) return names(alternative);
    }
  }
  return false;
}

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

}  // namespace

Result<ClaimAllocation> ReadClaimAllocation(const json& claim, std::string_view driver) {
  ClaimAllocation allocation;
  const json* metadata = Member(claim, "metadata");
  if (metadata == nullptr) return Status::InvalidArgument("the ResourceClaim has no metadata");
  allocation.uid = StringMember(*metadata, "uid");
  allocation.namespace_name = StringMember(*metadata, "namespace");
  allocation.name = StringMember(*metadata, "name");
  if (allocation.uid.empty() || allocation.name.empty()) {
    return Status::InvalidArgument("the ResourceClaim has no metadata.name or metadata.uid");
  }
  const std::string what = allocation.Describe();
  const json* status = Member(claim, "status");
  const json* allocated = status != nullptr ? Member(*status, "allocation") : nullptr;
  if (allocated == nullptr || !allocated->is_object()) {
    return Status::FailedPrecondition(what + " is not allocated yet");
  }
  const json* devices = Member(*allocated, "devices");
  const json* results = devices != nullptr ? Member(*devices, "results") : nullptr;
  if (results != nullptr && !results->is_array()) {
    return Status::InvalidArgument(what + ": status.allocation.devices.results is not a list");
  }
  if (results != nullptr) {
    for (size_t i = 0; i < results->size(); ++i) {
      const json& result = (*results)[i];
      const std::string field =
          what + ": status.allocation.devices.results[" + std::to_string(i) + "]";
      if (StringMember(result, "driver") != driver) continue;
      AllocatedDevice device;
      device.request = StringMember(result, "request");
      device.pool = StringMember(result, "pool");
      device.device = StringMember(result, "device");
      device.share_id = StringMember(result, "shareID");
      if (device.request.empty() || device.pool.empty() || device.device.empty()) {
        return Status::InvalidArgument(field + " lacks request, pool or device");
      }
      if (const json* admin = Member(result, "adminAccess");
          admin != nullptr && admin->is_boolean() && admin->get<bool>()) {
        return Status::InvalidArgument(
            field + " asks for adminAccess, which " + std::string(driver) +
            " does not grant: a share is always held to its memory and compute");
      }
      const json* consumed = Member(result, "consumedCapacity");
      if (consumed == nullptr || !consumed->is_object()) {
        return Status::InvalidArgument(
            field + ".consumedCapacity is missing: the scheduler did not book memory and "
                    "compute (is the DRAConsumableCapacity feature gate off?)");
      }
      Result<int64_t> memory = ConsumedValue(*consumed, "memory", field + ".consumedCapacity");
      if (!memory.ok()) return memory.status();
      Result<int64_t> compute = ConsumedValue(*consumed, "compute", field + ".consumedCapacity");
      if (!compute.ok()) return compute.status();
      if (*memory == 0) {
        return Status::InvalidArgument(field + ".consumedCapacity.memory is 0");
      }
      if (*compute > 100) {
        return Status::InvalidArgument(field + ".consumedCapacity.compute: " +
                                       std::to_string(*compute) + " is more than 100 percent");
      }
      device.memory_bytes = static_cast<uint64_t>(*memory);
      device.compute_percent = static_cast<int>(*compute);
      device.memory_requested = RequestNames(claim, device.request, "memory");
      allocation.devices.push_back(std::move(device));
    }
  }
  if (allocation.devices.empty()) {
    return Status::InvalidArgument(what + " has no device of driver " + std::string(driver));
  }
  return allocation;
}

Result<ClaimPlan> PlanClaim(const ClaimAllocation& claim, const std::string& pool,
                            const std::vector<PublishedGpu>& gpus,
                            const std::vector<GpuSetup>& setups, const core::DraConfig& dra) {
  const std::string what = claim.Describe();
  std::map<int, PlannedGpu> by_index;
  for (const AllocatedDevice& device : claim.devices) {
    const std::string name = device.pool + "/" + device.device;
    if (device.pool != pool) {
      return Status::InvalidArgument(what + ": device " + name +
                                     " is in another node's pool; this node's pool is " + pool);
    }
    if (!device.memory_requested && dra.require_memory) {
      return Status::InvalidArgument(
          what + ": request \"" + device.request + "\" names no memory. " +
          std::string(kDriverName) +
          " sizes every share by memory: set capacity.requests.memory in the request "
          "(e.g. memory: 6Gi)");
    }
    size_t position = gpus.size();
    for (size_t i = 0; i < gpus.size(); ++i) {
      if (DeviceName(gpus[i].gpu) == device.device) position = i;
    }
    if (position == gpus.size()) {
      std::vector<std::string> names;
      for (const PublishedGpu& gpu : gpus) names.push_back(DeviceName(gpu.gpu));
      return Status::NotFound(what + ": this node has no device " + device.device +
                              " (its devices: " + (names.empty() ? "none" : Join(names)) + ")");
    }
    const PublishedGpu& gpu = gpus[position];
    if (!gpu.unhealthy_reason.empty()) {
      return Status::FailedPrecondition(what + ": " + device.device + " (" + gpu.gpu.uuid +
                                        ") is unhealthy: " + gpu.unhealthy_reason);
    }
    auto [it, inserted] = by_index.try_emplace(gpu.gpu.index);
    PlannedGpu& planned = it->second;
    if (inserted) {
      planned.gpu = gpu;
      planned.compute_percent = 0;
      planned.env_injection = position < setups.size() && setups[position].env_injection;
    }
    planned.memory_bytes += device.memory_bytes;
    planned.compute_percent += device.compute_percent;
    const uint64_t usable = UsableMemory(gpu);
    if (planned.memory_bytes > usable) {
      return Status::InvalidArgument(what + ": consumes " + std::to_string(planned.memory_bytes) +
                                     " bytes of memory on " + device.device + ", which has " +
                                     std::to_string(usable));
    }
    if (planned.compute_percent > 100) {
      return Status::InvalidArgument(what + ": consumes " +
                                     std::to_string(planned.compute_percent) +
                                     " percent of compute on " + device.device);
    }
  }
  ClaimPlan plan;
  for (auto& [index, planned] : by_index) {
    size_t position = 0;
    while (position < gpus.size() && gpus[position].gpu.index != index) ++position;
    const bool enforce = position >= setups.size() || setups[position].enforce_compute;
    // Consuming no compute books no share: such a claim is not throttled.
    if (planned.compute_percent == 0 || !enforce) planned.compute_percent = 100;
    plan.gpus.push_back(std::move(planned));
  }
  return plan;
}

}  // namespace gpuslice::dra
