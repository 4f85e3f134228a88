#include "nodesim/dra_node.h"

#include <sstream>

#include "core/contract.h"
#include "core/dra_capacity.h"
#include "core/quantity.h"
#include "dra/device_model.h"
#include "io/file.h"

namespace gpuslice::nodesim {
namespace {

using nlohmann::json;

// The env of a CDI containerEdits object; entries that are not "NAME=value" strings are skipped.
std::map<std::string, std::string> EnvOf(const json& edits) {
  std::map<std::string, std::string> env;
  if (!edits.is_object() || !edits.contains("env") || !edits["env"].is_array()) return env;
  for (const json& entry : edits["env"]) {
    if (!entry.is_string()) continue;
    const std::string text = entry.get<std::string>();
    const size_t equals = text.find('=');
    if (equals != std::string::npos) env[text.substr(0, equals)] = text.substr(equals + 1);
  }
  return env;
}

}  // namespace

DraNode::DraNode(const std::string& dir, const core::Config& config,
                 const plugin::Inventory& inventory)
    : config_(config),
      inventory_(inventory),
      regions_({dir + "/dra-regions"}, core::SystemClock::Get()),
      contract_(config.library_host_dir, regions_),
      booked_(inventory.gpus().size()) {
  dra::PreparerOptions options;
  options.cdi_dir = dir + "/cdi";
  options.checkpoint_path = dir + "/dra-checkpoint.json";
  options.dra = config.dra;
  options.real_gpus = false;
  preparer_ = std::make_unique<dra::ClaimPreparer>(
      options,
      [this](const std::string& ns, const std::string& name) -> Result<json> {
        const auto it = claims_.find(ns + "/" + name);
        if (it == claims_.end()) return Status::NotFound("no ResourceClaim " + ns + "/" + name);
        return it->second;
      },
      [this] { return Snapshot(); }, contract_, regions_);
}

dra::NodeSnapshot DraNode::Snapshot() const {
  dra::NodeSnapshot snapshot{"node-sim", {}, {}};
  for (const plugin::SlicedGpu& sliced : inventory_.gpus()) {
    snapshot.gpus.push_back({sliced.gpu, sliced.profile.reserved_memory_bytes, ""});
    snapshot.setups.push_back({sliced.profile.enforce_compute,
                               sliced.profile.injection == core::LibraryInjection::kEnv});
  }
  return snapshot;
}

Result<std::vector<ContainerPlacement>> DraNode::Admit(
    const kube::Pod& pod, const std::vector<kube::ClaimedRequest>& requests) {
  const std::string pod_name = pod.namespace_name + "/" + pod.name;
  const core::DraConfig& policy = config_.dra;
  const dra::NodeSnapshot node = Snapshot();
  std::vector<Booking> booked = booked_;
  // Per claim (a template's claim is the pod's own): its requests' results on this node.
  std::map<std::string, json> results;
  for (const kube::ClaimedRequest& claimed : requests) {
    if (claimed.shared && shared_.count(claimed.claim) > 0) continue;
    const kube::DeviceRequest& request = *claimed.request;
    uint64_t memory = policy.memory_default_bytes;
    int compute = policy.compute_default_percent;
    if (const auto it = request.capacity.find("memory"); it != request.capacity.end()) {
      memory = static_cast<uint64_t>(it->second.Value().value_or(0));
    }
    if (const auto it = request.capacity.find("compute"); it != request.capacity.end()) {
      compute = static_cast<int>(std::min<int64_t>(it->second.Value().value_or(0), 101));
    }
    const uint64_t booking = core::BookedClaimMemory(memory, policy);
    for (int64_t n = 0; n < request.count; ++n) {
      size_t chosen = node.gpus.size();
      uint64_t most_free = 0;
      for (size_t i = 0; i < node.gpus.size(); ++i) {
        const uint64_t usable = dra::UsableMemory(node.gpus[i]);
        const uint64_t free = usable > booked[i].memory_bytes ? usable - booked[i].memory_bytes : 0;
        most_free = std::max(most_free, free);
        if (booking <= dra::MaxClaimMemory(node.gpus[i], policy) && booking <= free &&
            booked[i].compute_percent + compute <= 100) {
          chosen = i;
          break;
        }
      }
      if (chosen == node.gpus.size()) {
        return Status::ResourceExhausted(
            "cannot allocate all claims: " + claimed.claim + " request \"" + request.name +
            "\" needs " + core::FormatBytes(booking) + " of GPU memory and " +
            std::to_string(compute) + "% compute; the most memory free on one GPU is " +
            core::FormatBytes(most_free));
      }
      booked[chosen].memory_bytes += booking;
      booked[chosen].compute_percent += compute;
      results[claimed.claim].push_back(
          {{"request", request.name},
           {"driver", dra::kDriverName},
           {"pool", node.pool},
           {"device", dra::DeviceName(node.gpus[chosen].gpu)},
           {"consumedCapacity",
            {{"memory", std::to_string(booking)}, {"compute", std::to_string(compute)}}}});
    }
  }

  // Prepared the way the kubelet asks the driver: one claim object per claim.
  std::map<std::string, dra::PreparedClaim> prepared;
  for (const auto& [claim_key, claim_results] : results) {
    json spec_requests = json::array();
    bool shared = false;
    for (const kube::ClaimedRequest& claimed : requests) {
      if (claimed.claim != claim_key) continue;
      shared = claimed.shared;
      json capacity = json::object();
      for (const auto& [name, quantity] : claimed.request->capacity) capacity[name] = quantity.text();
      spec_requests.push_back({{"name", claimed.request->name},
                               {"exactly",
                                {{"deviceClassName", claimed.request->device_class},
                                 {"capacity", {{"requests", capacity}}}}}});
    }
    const std::string name = claim_key.substr(claim_key.find('/') + 1) + "-" + pod.name;
    const std::string uid = "node-sim-" + std::to_string(++next_uid_);
    claims_[pod.namespace_name + "/" + name] = {
        {"metadata", {{"name", name}, {"namespace", pod.namespace_name}, {"uid", uid}}},
        {"spec", {{"devices", {{"requests", spec_requests}}}}},
        {"status", {{"allocation", {{"devices", {{"results", claim_results}}}}}}}};
    Result<dra::PreparedClaim> done = preparer_->Prepare({uid, pod.namespace_name, name});
    if (!done.ok()) {
      for (const auto& [key, claim] : prepared) {
        (void)preparer_->Unprepare({claim.uid, claim.namespace_name, claim.name});
      }
      return done.status();
    }
    prepared[claim_key] = *done;
    if (shared) shared_[claim_key] = *done;
  }
  booked_ = std::move(booked);

  std::vector<ContainerPlacement> placements;
  for (const kube::Container& container : pod.spec().containers) {
    for (const std::string& claim_name : container.claims) {
      for (const kube::PodResourceClaim& entry : pod.spec().resource_claims) {
        if (entry.name != claim_name) continue;
        const std::string key = pod.namespace_name + "/" +
                                (entry.template_name.empty() ? entry.claim_name : entry.template_name);
        const dra::PreparedClaim* claim = nullptr;
        if (const auto it = prepared.find(key); it != prepared.end()) {
          claim = &it->second;
        } else if (const auto it2 = shared_.find(key); it2 != shared_.end()) {
          claim = &it2->second;
        }
        if (claim == nullptr) continue;
        Result<std::string> text = io::ReadFile(claim->cdi_spec_path);
        if (!text.ok()) return text.status();
        const json spec = json::parse(*text, nullptr, /*allow_exceptions=*/false);
        if (spec.is_discarded() || !spec.is_object()) {
          return Status::Internal(claim->cdi_spec_path + ": the CDI spec prepare wrote is not JSON");
        }
        std::map<std::string, std::string> env = EnvOf(spec.value("containerEdits", json()));
        for (const json& device : spec.value("devices", json::array())) {
          if (!device.is_object()) continue;
          for (const auto& [variable, value] : EnvOf(device.value("containerEdits", json()))) {
            env[variable] = value;
          }
        }
        ContainerPlacement placement{pod_name, container.name, std::string(dra::kDriverName), {}, {}};
        for (const dra::PreparedDevice& device : claim->devices) {
          placement.device_ids.push_back(device.pool + "/" + device.device);
        }
        std::stringstream uuids(env[std::string(core::contract::kVisibleDevicesEnv)]);
        std::string uuid;
        for (int i = 0; std::getline(uuids, uuid, ','); ++i) {
          VisibleGpu gpu;
          gpu.uuid = uuid;
          for (const plugin::SlicedGpu& sliced : inventory_.gpus()) {
            if (sliced.gpu.uuid == uuid) {
              gpu.index = sliced.gpu.index;
              gpu.name = sliced.gpu.name;
            }
          }
          gpu.memory_limit_bytes = static_cast<uint64_t>(
              core::Quantity::Parse(env[core::contract::MemoryLimitEnv(i)])
                  .value_or(*core::Quantity::Parse("0"))
                  .Value()
                  .value_or(0));
          gpu.compute_percent = static_cast<int>(
              core::Quantity::Parse(env[core::contract::ComputeLimitEnv(i)])
                  .value_or(*core::Quantity::Parse("0"))
                  .Value()
                  .value_or(0));
          placement.gpus.push_back(std::move(gpu));
        }
        placements.push_back(std::move(placement));
      }
    }
  }
  return placements;
}

}  // namespace gpuslice::nodesim
