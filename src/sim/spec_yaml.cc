// The YAML form of a simulated node's spec:
//
//   version: v1
//   driverVersion: "580.65.06"   # optional
//   cudaVersion: "13.0"          # optional
//   uuidSeed: node-a             # optional: varies the derived UUIDs between nodes
//   numaNodes: 2                 # optional: NUMA nodes the GPUs are spread over
//   gpus:
//     - model: H100-80GB
//       count: 2                 # optional, default 1
//       kernelDuration: 2ms      # any GpuSpec knob or fact, see kGpuKeys
//       migMode: true            # optional: the GPU is in MIG mode (nvmlDeviceGetMigMode)
//     - model: T4
//       uuid: GPU-0a1b2c3d-0000-4000-8000-000000000001
//       pciBusId: "0000:3b:00.0"
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <functional>
#include <optional>

#include "core/quantity.h"
#include "core/yaml_load.h"
#include "sim/internal/spec_defaults.h"
#include "sim/models.h"
#include "sim/spec.h"

namespace gpuslice::sim {
namespace {

constexpr std::array<std::string_view, 6> kTopKeys = {"version",  "driverVersion", "cudaVersion",
                                                      "uuidSeed", "numaNodes",     "gpus"};
constexpr std::array<std::string_view, 18> kGpuKeys = {"model",
                                                       "count",
                                                       "uuid",
                                                       "name",
                                                       "memory",
                                                       "minor",
                                                       "pciBusId",
                                                       "numaNode",
                                                       "kernelDuration",
                                                       "contextMemory",
                                                       "moduleMemory",
                                                       "kernelLocalMemory",
                                                       "launchQueueDepth",
                                                       "smCount",
                                                       "computeCapability",
                                                       "clockKHz",
                                                       "memoryClockKHz",
                                                       "migMode"};

// Error messages point at "<file>:<line>: <field path>".
class Reader {
 public:
  explicit Reader(std::string_view source) : source_(source) {}

  Status Error(const YAML::Node& node, const std::string& path, const std::string& what) const {
    const int line = node.IsDefined() ? node.Mark().line + 1 : 0;
    return Status::InvalidArgument(std::string(source_) +
                                   (line > 0 ? ":" + std::to_string(line) : std::string()) + ": " +
                                   path + ": " + what);
  }

  Result<std::string> Scalar(const YAML::Node& node, const std::string& path) const {
    if (!node.IsDefined()) return Error(node, path, "missing");
    if (!node.IsScalar()) return Error(node, path, "expected a single value");
    return node.Scalar();
  }

  Result<int64_t> Integer(const YAML::Node& node, const std::string& path, int64_t min,
                          int64_t max) const {
    Result<std::string> text = Scalar(node, path);
    if (!text.ok()) return text.status();
    int64_t value = 0;
    const auto [end, error] = std::from_chars(text->data(), text->data() + text->size(), value);
    if (text->empty() || error != std::errc() || end != text->data() + text->size() ||
        value < min || value > max) {
      return Error(node, path,
                   "'" + *text + "' must be an integer between " + std::to_string(min) + " and " +
                       std::to_string(max));
    }
    return value;
  }

  Result<uint64_t> Bytes(const YAML::Node& node, const std::string& path) const {
    Result<std::string> text = Scalar(node, path);
    if (!text.ok()) return text.status();
    Result<core::Quantity> quantity = core::Quantity::Parse(*text);
    if (!quantity.ok()) return Error(node, path, quantity.status().message());
    Result<int64_t> value = quantity->Value();
    if (!value.ok() || *value < 0) {
      return Error(node, path, "'" + *text + "' must be a non-negative byte count");
    }
    return static_cast<uint64_t>(*value);
  }

  Result<uint64_t> Duration(const YAML::Node& node, const std::string& path) const {
    Result<std::string> text = Scalar(node, path);
    if (!text.ok()) return text.status();
    Result<uint64_t> ns = ParseDuration(*text);
    if (!ns.ok()) return Error(node, path, ns.status().message());
    return *ns;
  }

  Status OnlyKeys(const YAML::Node& map, const std::string& path,
                  std::span<const std::string_view> allowed) const {
    for (const auto& entry : map) {
      const std::string key = entry.first.IsScalar() ? entry.first.Scalar() : std::string();
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        std::string list;
        for (std::string_view name : allowed)
          list += (list.empty() ? "" : ", ") + std::string(name);
        return Error(entry.first, path.empty() ? key : path + "." + key,
                     "unknown field (expected one of: " + list + ")");
      }
    }
    return Status::Ok();
  }

  std::string_view source() const { return source_; }

 private:
  std::string_view source_;
};

// Applies the optional per-GPU fields of `node` to `gpu`.
Status ApplyGpuFields(const Reader& reader, const YAML::Node& node, const std::string& path,
                      bool single, GpuSpec* gpu) {
  auto field = [&](const char* key,
                   const std::function<Status(const YAML::Node&, const std::string&)>& apply) {
    const YAML::Node value = node[key];
    if (!value.IsDefined() || value.IsNull()) return Status::Ok();
    return apply(value, path + "." + key);
  };
  auto single_only = [&](const YAML::Node& value, const std::string& field_path) {
    return single ? Status::Ok()
                  : reader.Error(value, field_path,
                                 "can only be set on an entry with count 1 (it must be unique)");
  };
  GPUSLICE_RETURN_IF_ERROR(field("uuid", [&](const YAML::Node& v, const std::string& p) {
    GPUSLICE_RETURN_IF_ERROR(single_only(v, p));
    Result<std::string> text = reader.Scalar(v, p);
    if (!text.ok()) return text.status();
    if (!internal::IsValidUuid(*text)) {
      return reader.Error(v, p,
                          "'" + *text +
                              "' is not of the form GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx "
                              "(lower-case hex)");
    }
    gpu->uuid = *text;
    return Status::Ok();
  }));
  GPUSLICE_RETURN_IF_ERROR(field("name", [&](const YAML::Node& v, const std::string& p) {
    Result<std::string> text = reader.Scalar(v, p);
    if (!text.ok()) return text.status();
    gpu->name = *text;
    return Status::Ok();
  }));
  GPUSLICE_RETURN_IF_ERROR(field("memory", [&](const YAML::Node& v, const std::string& p) {
    Result<uint64_t> bytes = reader.Bytes(v, p);
    if (!bytes.ok()) return bytes.status();
    gpu->memory_bytes = *bytes;
    return Status::Ok();
  }));
  GPUSLICE_RETURN_IF_ERROR(field("minor", [&](const YAML::Node& v, const std::string& p) {
    GPUSLICE_RETURN_IF_ERROR(single_only(v, p));
    Result<int64_t> minor = reader.Integer(v, p, 0, 255);
    if (!minor.ok()) return minor.status();
    gpu->minor = static_cast<int>(*minor);
    return Status::Ok();
  }));
  GPUSLICE_RETURN_IF_ERROR(field("pciBusId", [&](const YAML::Node& v, const std::string& p) {
    GPUSLICE_RETURN_IF_ERROR(single_only(v, p));
    Result<std::string> text = reader.Scalar(v, p);
    if (!text.ok()) return text.status();
    const std::optional<std::string> bus_id = internal::NormalizePciBusId(*text);
    if (!bus_id) return reader.Error(v, p, "'" + *text + "' is not of the form 0000:18:00.0");
    gpu->pci_bus_id = *bus_id;
    return Status::Ok();
  }));
  GPUSLICE_RETURN_IF_ERROR(field("numaNode", [&](const YAML::Node& v, const std::string& p) {
    Result<int64_t> numa = reader.Integer(v, p, -1, 63);
    if (!numa.ok()) return numa.status();
    gpu->numa_node = static_cast<int>(*numa);
    return Status::Ok();
  }));
  GPUSLICE_RETURN_IF_ERROR(field("kernelDuration", [&](const YAML::Node& v, const std::string& p) {
    Result<uint64_t> ns = reader.Duration(v, p);
    if (!ns.ok()) return ns.status();
    gpu->kernel_duration_ns = *ns;
    return Status::Ok();
  }));
  GPUSLICE_RETURN_IF_ERROR(field("contextMemory", [&](const YAML::Node& v, const std::string& p) {
    Result<uint64_t> bytes = reader.Bytes(v, p);
    if (!bytes.ok()) return bytes.status();
    gpu->context_memory_bytes = *bytes;
    return Status::Ok();
  }));
  GPUSLICE_RETURN_IF_ERROR(field("moduleMemory", [&](const YAML::Node& v, const std::string& p) {
    Result<uint64_t> bytes = reader.Bytes(v, p);
    if (!bytes.ok()) return bytes.status();
    gpu->module_memory_bytes = *bytes;
    return Status::Ok();
  }));
  GPUSLICE_RETURN_IF_ERROR(
      field("kernelLocalMemory", [&](const YAML::Node& v, const std::string& p) {
        Result<uint64_t> bytes = reader.Bytes(v, p);
        if (!bytes.ok()) return bytes.status();
        gpu->kernel_local_memory_bytes = *bytes;
        return Status::Ok();
      }));
  GPUSLICE_RETURN_IF_ERROR(
      field("launchQueueDepth", [&](const YAML::Node& v, const std::string& p) {
        Result<int64_t> depth = reader.Integer(v, p, 1, 1 << 16);
        if (!depth.ok()) return depth.status();
        gpu->launch_queue_depth = static_cast<uint32_t>(*depth);
        return Status::Ok();
      }));
  GPUSLICE_RETURN_IF_ERROR(field("smCount", [&](const YAML::Node& v, const std::string& p) {
    Result<int64_t> sms = reader.Integer(v, p, 1, 1024);
    if (!sms.ok()) return sms.status();
    gpu->sm_count = static_cast<int>(*sms);
    return Status::Ok();
  }));
  GPUSLICE_RETURN_IF_ERROR(field("clockKHz", [&](const YAML::Node& v, const std::string& p) {
    Result<int64_t> khz = reader.Integer(v, p, 1, 10'000'000);
    if (!khz.ok()) return khz.status();
    gpu->clock_khz = static_cast<int>(*khz);
    return Status::Ok();
  }));
  GPUSLICE_RETURN_IF_ERROR(field("memoryClockKHz", [&](const YAML::Node& v, const std::string& p) {
    Result<int64_t> khz = reader.Integer(v, p, 1, 100'000'000);
    if (!khz.ok()) return khz.status();
    gpu->memory_clock_khz = static_cast<int>(*khz);
    return Status::Ok();
  }));
  GPUSLICE_RETURN_IF_ERROR(field("migMode", [&](const YAML::Node& v, const std::string& p) {
    Result<std::string> text = reader.Scalar(v, p);
    if (!text.ok()) return text.status();
    if (*text != "true" && *text != "false") {
      return reader.Error(v, p, "'" + *text + "' must be true or false");
    }
    gpu->mig_mode = *text == "true";
    return Status::Ok();
  }));
  return field("computeCapability", [&](const YAML::Node& v, const std::string& p) {
    Result<std::string> text = reader.Scalar(v, p);
    if (!text.ok()) return text.status();
    int major = 0, minor = 0;
    const size_t dot = text->find('.');
    const char* begin = text->data();
    const char* end = begin + text->size();
    if (dot == std::string::npos || std::from_chars(begin, begin + dot, major).ptr != begin + dot ||
        std::from_chars(begin + dot + 1, end, minor).ptr != end || dot == 0 ||
        dot + 1 == text->size() || major < 1 || major > 99 || minor < 0 || minor > 9) {
      return reader.Error(v, p, "'" + *text + "' is not a compute capability such as '9.0'");
    }
    gpu->cc_major = major;
    gpu->cc_minor = minor;
    return Status::Ok();
  });
}

Result<SimSpec> ParseDocument(const Reader& reader, const YAML::Node& root) {
  if (!root.IsMap()) return reader.Error(root, "spec", "expected a mapping with 'gpus'");
  GPUSLICE_RETURN_IF_ERROR(reader.OnlyKeys(root, "", kTopKeys));
  if (!root["version"].IsDefined()) {
    return reader.Error(root, "version", "missing; this format is 'version: v1'");
  }
  Result<std::string> version = reader.Scalar(root["version"], "version");
  if (!version.ok()) return version.status();
  if (*version != "v1") {
    return reader.Error(root["version"], "version",
                        "'" + *version + "' is not supported; this format is 'v1'");
  }
  SimSpec spec;
  if (root["driverVersion"].IsDefined()) {
    Result<std::string> text = reader.Scalar(root["driverVersion"], "driverVersion");
    if (!text.ok()) return text.status();
    spec.driver_version = *text;
  }
  if (root["cudaVersion"].IsDefined()) {
    const YAML::Node node = root["cudaVersion"];
    Result<std::string> text = reader.Scalar(node, "cudaVersion");
    if (!text.ok()) return text.status();
    int major = 0, minor = 0;
    const char* begin = text->data();
    const char* end = begin + text->size();
    const size_t dot = text->find('.');
    if (dot == std::string::npos || dot == 0 ||
        std::from_chars(begin, begin + dot, major).ptr != begin + dot ||
        std::from_chars(begin + dot + 1, end, minor).ptr != end || dot + 1 == text->size() ||
        major < 1 || major > 99 || minor < 0 || minor > 99) {
      return reader.Error(node, "cudaVersion", "'" + *text + "' is not a version such as '13.0'");
    }
    spec.cuda_version = major * 1000 + minor * 10;
  }
  std::string uuid_seed;
  if (root["uuidSeed"].IsDefined()) {
    Result<std::string> text = reader.Scalar(root["uuidSeed"], "uuidSeed");
    if (!text.ok()) return text.status();
    uuid_seed = *text;
  }
  const YAML::Node gpus = root["gpus"];
  if (!gpus.IsDefined()) return reader.Error(root, "gpus", "missing: list the node's GPUs");
  if (!gpus.IsSequence() || gpus.size() == 0) {
    return reader.Error(gpus, "gpus", "expected a non-empty list of GPU entries");
  }
  struct Entry {
    const GpuModel* model;
    int count;
  };
  std::vector<Entry> entries;
  int total = 0;
  for (size_t i = 0; i < gpus.size(); ++i) {
    const YAML::Node node = gpus[i];
    const std::string path = "gpus[" + std::to_string(i) + "]";
    if (!node.IsMap()) return reader.Error(node, path, "expected a mapping with 'model'");
    GPUSLICE_RETURN_IF_ERROR(reader.OnlyKeys(node, path, kGpuKeys));
    if (!node["model"].IsDefined()) return reader.Error(node, path + ".model", "missing");
    Result<std::string> key = reader.Scalar(node["model"], path + ".model");
    if (!key.ok()) return key.status();
    const GpuModel* model = FindModel(*key);
    if (model == nullptr) {
      return reader.Error(node["model"], path + ".model",
                          "unknown GPU model '" + *key + "' (known: " + ModelKeyList() + ")");
    }
    int count = 1;
    if (node["count"].IsDefined()) {
      Result<int64_t> value = reader.Integer(node["count"], path + ".count", 1, kMaxGpus);
      if (!value.ok()) return value.status();
      count = static_cast<int>(*value);
    }
    total += count;
    if (total > kMaxGpus) {
      return reader.Error(
          node, path,
          std::to_string(total) + " GPUs; a node holds at most " + std::to_string(kMaxGpus));
    }
    entries.push_back({model, count});
  }
  int numa_nodes = internal::DefaultNumaNodes(total);
  if (root["numaNodes"].IsDefined()) {
    Result<int64_t> value = reader.Integer(root["numaNodes"], "numaNodes", 0, 64);
    if (!value.ok()) return value.status();
    numa_nodes = static_cast<int>(*value);
  }
  for (size_t i = 0; i < entries.size(); ++i) {
    for (int k = 0; k < entries[i].count; ++k) {
      const int index = static_cast<int>(spec.gpus.size());
      GpuSpec gpu = internal::GpuFromModel(*entries[i].model, index, total, numa_nodes, uuid_seed);
      GPUSLICE_RETURN_IF_ERROR(ApplyGpuFields(reader, gpus[i], "gpus[" + std::to_string(i) + "]",
                                              entries[i].count == 1, &gpu));
      spec.gpus.push_back(std::move(gpu));
    }
  }
  GPUSLICE_RETURN_IF_ERROR(ValidateSpec(spec).WithContext(reader.source()));
  return spec;
}

}  // namespace

Result<SimSpec> ParseSpecYaml(std::string_view yaml, std::string_view source) {
  const Reader reader(source);
  Result<YAML::Node> root = core::LoadYaml(yaml, source);
  if (!root.ok()) return root.status();
  try {
    return ParseDocument(reader, *root);
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(std::string(source) + ":" + std::to_string(e.mark.line + 1) +
                                   ": " + e.msg);
  }
}

}  // namespace gpuslice::sim
