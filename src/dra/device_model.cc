#include "dra/device_model.h"

#include <cctype>
#include <cstdio>

#include "core/dra_capacity.h"

namespace gpuslice::dra {
namespace {

using nlohmann::json;

constexpr size_t kMaxObjectName = 253;

// Quantities in the API are strings; bytes as plain integers are exact and unambiguous.
std::string Quantity(uint64_t value) { return std::to_string(value); }

}  // namespace

std::string DeviceName(const core::GpuInfo& gpu) { return "gpu-" + std::to_string(gpu.index); }

std::string ModelFamily(int compute_major, int compute_minor) {
  switch (compute_major) {
    case 6:
      return "pascal";
    case 7:
      return compute_minor >= 5 ? "turing" : "volta";
    case 8:
      return compute_minor >= 9 ? "ada-lovelace" : "ampere";
    case 9:
      return "hopper";
    case 10:
    case 12:
      return "blackwell";
    default:
      return "";
  }
}

std::string SemverOf(std::string_view text) {
  std::vector<unsigned long> parts;
  size_t at = 0;
  while (at < text.size() && parts.size() < 3) {
    if (!std::isdigit(static_cast<unsigned char>(text[at]))) break;
    unsigned long value = 0;
    while (at < text.size() && std::isdigit(static_cast<unsigned char>(text[at]))) {
      value = value * 10 + static_cast<unsigned long>(text[at] - '0');
      if (value > 999999999) return "";
      ++at;
    }
    parts.push_back(value);
    if (at < text.size() && text[at] == '.') {
      ++at;
    } else {
      break;
    }
  }
  if (parts.empty()) return "";
  while (parts.size() < 3) parts.push_back(0);
  return std::to_string(parts[0]) + "." + std::to_string(parts[1]) + "." +
         std::to_string(parts[2]);
}

uint64_t UsableMemory(const PublishedGpu& gpu) {
  return gpu.gpu.memory_bytes > gpu.reserved_memory_bytes
             ? gpu.gpu.memory_bytes - gpu.reserved_memory_bytes
             : 0;
}

uint64_t MaxClaimMemory(const PublishedGpu& gpu, const core::DraConfig& dra) {
  return core::LargestClaimMemory(UsableMemory(gpu), dra);
}

json BuildDevice(const PublishedGpu& published, const NodeFacts& node,
                 const core::DraConfig& dra) {
  const core::GpuInfo& gpu = published.gpu;
  json attributes = {{"uuid", {{"string", gpu.uuid}}},
                     {"index", {{"int", gpu.index}}},
                     {"productName", {{"string", gpu.name}}},
                     // The whole GPU's memory, for selectors on the model's size; what claims
                     // can take of it is the capacity of the same name.
                     {"memory", {{"int", gpu.memory_bytes}}}};
  if (const std::string family = ModelFamily(gpu.compute_major, gpu.compute_minor);
      !family.empty()) {
    attributes["family"] = {{"string", family}};
  }
  if (gpu.compute_major >= 0) {
    attributes["computeCapability"] = {
        {"version", std::to_string(gpu.compute_major) + "." +
                        std::to_string(std::max(gpu.compute_minor, 0)) + ".0"}};
  }
  if (const std::string driver = SemverOf(node.driver_version); !driver.empty()) {
    attributes["driverVersion"] = {{"version", driver}};
  }
  if (node.cuda_driver_version > 0) {
    attributes["cudaDriverVersion"] = {
        {"version", std::to_string(node.cuda_driver_version / 1000) + "." +
                        std::to_string(node.cuda_driver_version % 1000 / 10) + ".0"}};
  }
  if (!gpu.pci_bus_id.empty()) attributes["pciBusID"] = {{"string", gpu.pci_bus_id}};

  const uint64_t max_memory = MaxClaimMemory(published, dra);
  json device = {
      {"name", DeviceName(gpu)},
      {"allowMultipleAllocations", true},
      {"attributes", std::move(attributes)},
      {"capacity",
       {{"memory",
         {{"value", Quantity(UsableMemory(published))},
          {"requestPolicy",
           {{"default", Quantity(std::min(dra.memory_default_bytes, max_memory))},
            {"validRange",
             {{"min", Quantity(dra.memory_min_bytes)},
              {"max", Quantity(max_memory)},
              {"step", Quantity(dra.memory_step_bytes)}}}}}}},
        {"compute",
         {{"value", "100"},
          {"requestPolicy",
           {{"default", std::to_string(dra.compute_default_percent)},
            {"validRange", {{"min", "0"}, {"max", "100"}, {"step", "1"}}}}}}}}}};
  if (!published.unhealthy_reason.empty()) {
    // Taint values are label values: at most 63 characters of [A-Za-z0-9_.-].
    std::string value;
    for (char c : published.unhealthy_reason) {
      if (value.size() == 63) break;
      value += std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-'
                   ? c
                   : '-';
    }
    while (!value.empty() && !std::isalnum(static_cast<unsigned char>(value.back()))) {
      value.pop_back();
    }
    while (!value.empty() && !std::isalnum(static_cast<unsigned char>(value.front()))) {
      value.erase(0, 1);
    }
    device["taints"] = json::array(
        {{{"key", kUnhealthyTaintKey}, {"value", value}, {"effect", "NoSchedule"}}});
  }
  return device;
}

std::string SliceName(const std::string& node_name) {
  const std::string suffix = "-" + std::string(kDriverName);
  if (node_name.size() + suffix.size() <= kMaxObjectName) return node_name + suffix;
  uint64_t hash = 14695981039346656037ULL;  // FNV-1a: the same on every build
  for (unsigned char c : node_name) hash = (hash ^ c) * 1099511628211ULL;
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(hash));
  const size_t keep = kMaxObjectName - suffix.size() - 17;
  return node_name.substr(0, keep) + "-" + hex + suffix;
}

json BuildResourceSlice(const std::vector<PublishedGpu>& gpus, const NodeFacts& node,
                        const core::DraConfig& dra, int64_t generation) {
  json devices = json::array();
  for (const PublishedGpu& gpu : gpus) {
    // A GPU with no room for the smallest claim would be refused by the API server's
    // validation of the request policy; it is simply not offered.
    if (MaxClaimMemory(gpu, dra) == 0) continue;
    devices.push_back(BuildDevice(gpu, node, dra));
  }
  json metadata = {{"name", SliceName(node.node_name)},
                   {"labels", {{"app.kubernetes.io/managed-by", "gpuslice"}}}};
  if (!node.node_uid.empty()) {
    metadata["ownerReferences"] = json::array({{{"apiVersion", "v1"},
                                                {"kind", "Node"},
                                                {"name", node.node_name},
                                                {"uid", node.node_uid},
                                                {"controller", true}}});
  }
  return {{"apiVersion", "resource.k8s.io/v1"},
          {"kind", "ResourceSlice"},
          {"metadata", std::move(metadata)},
          {"spec",
           {{"driver", kDriverName},
            {"nodeName", node.node_name},
            {"pool",
             {{"name", node.node_name}, {"generation", generation}, {"resourceSliceCount", 1}}},
            {"devices", std::move(devices)}}}};
}

}  // namespace gpuslice::dra
