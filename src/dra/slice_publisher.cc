#include "dra/slice_publisher.h"

#include <spdlog/spdlog.h>

#include <set>

#include "core/quantity.h"
#include "dra/device_model.h"

namespace gpuslice::dra {
namespace {

using nlohmann::json;

// Keys whose string values are quantities in a device's capacity.
const std::set<std::string>& QuantityKeys() {
  static const std::set<std::string> keys = {"value", "default", "min", "max", "step"};
  return keys;
}

// A copy with every quantity written as its integer value, so the server's canonical form
// ("1Gi") and ours ("1073741824") compare equal.
json Canonical(const json& value) {
  if (value.is_object()) {
    json out = json::object();
    for (const auto& [key, item] : value.items()) {
      // The API server stamps taints with the time it first saw them.
      if (key == "timeAdded") continue;
      if (item.is_string() && QuantityKeys().count(key) > 0) {
        Result<core::Quantity> quantity = core::Quantity::Parse(item.get<std::string>());
        Result<int64_t> number = quantity.ok() ? quantity->Value() : Result<int64_t>(quantity.status());
        out[key] = number.ok() ? json(*number) : item;
      } else {
        out[key] = Canonical(item);
      }
    }
    return out;
  }
  if (value.is_array()) {
    json out = json::array();
    for (const json& item : value) out.push_back(Canonical(item));
    return out;
  }
  return value;
}

json ContentOf(const json& slice) {
  const json& spec = slice.contains("spec") ? slice["spec"] : json::object();
  json content = {{"driver", spec.value("driver", "")},
                  {"nodeName", spec.value("nodeName", "")},
                  {"devices", spec.contains("devices") ? Canonical(spec["devices"]) : json::array()}};
  if (spec.contains("pool") && spec["pool"].is_object()) {
    content["pool"] = spec["pool"].value("name", "");
  }
  return content;
}

int64_t GenerationOf(const json& slice) {
  try {
    return slice.at("spec").at("pool").at("generation").get<int64_t>();
  } catch (const json::exception&) {
    return 0;
  }
}

std::string NodeOf(const json& slice) {
  return slice.contains("spec") ? slice["spec"].value("nodeName", "") : "";
}

std::string NodeSelector(const std::string& node_name) {
  return "spec.nodeName=" + node_name + ",spec.driver=" + std::string(kDriverName);
}

}  // namespace

bool SameSliceContent(const json& a, const json& b) { return ContentOf(a) == ContentOf(b); }

int SlicePublisher::writes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return writes_;
}

Status SlicePublisher::Reconcile(const json& slice) {
  std::lock_guard<std::mutex> lock(mutex_);
  const std::string name = slice["metadata"]["name"];
  const std::string node = NodeOf(slice);
  kubeapi::ListOptions mine;
  mine.field_selector = NodeSelector(node);
  Result<json> existing = client_.List(kubeapi::types::kResourceSlices, "", mine);
  if (!existing.ok()) return existing.status();
  int64_t generation = 0;
  bool found = false;
  for (const json& item : (*existing)["items"]) {
    const std::string item_name = item["metadata"].value("name", "");
    generation = std::max(generation, GenerationOf(item));
    if (item_name == name) {
      found = true;
      continue;
    }
    // Another name for this node and driver: an older layout, or a copy someone made.
    const Status removed = client_.Delete(kubeapi::types::kResourceSlices, "", item_name);
    if (!removed.ok() && removed.code() != StatusCode::kNotFound) return removed;
    spdlog::info("removed stale ResourceSlice {}", item_name);
  }
  if (!found) {
    json created = slice;
    // Higher than any slice of the pool the scheduler may still have seen.
    created["spec"]["pool"]["generation"] = generation + 1;
    Result<json> result = client_.Create(kubeapi::types::kResourceSlices, "", created);
    if (!result.ok()) return result.status();
    ++writes_;
    spdlog::info("published ResourceSlice {} ({} devices, pool generation {})", name,
                 slice["spec"]["devices"].size(), generation + 1);
    return Status::Ok();
  }
  bool changed = false;
  Result<json> updated = client_.Mutate(
      kubeapi::types::kResourceSlices, "", name, [&](json& current) {
        if (SameSliceContent(current, slice)) return Status::Ok();
        const int64_t next = GenerationOf(current) + 1;
        current["spec"] = slice["spec"];
        current["spec"]["pool"]["generation"] = next;
        if (slice["metadata"].contains("ownerReferences")) {
          current["metadata"]["ownerReferences"] = slice["metadata"]["ownerReferences"];
        }
        current["metadata"]["labels"] = slice["metadata"]["labels"];
        changed = true;
        return Status::Ok();
      });
  if (!updated.ok()) return updated.status();
  if (changed) {
    ++writes_;
    spdlog::info("updated ResourceSlice {} ({} devices, pool generation {})", name,
                 slice["spec"]["devices"].size(), GenerationOf(*updated));
  }
  return Status::Ok();
}

}  // namespace gpuslice::dra
