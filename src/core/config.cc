#include "core/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <optional>

#include "core/duration.h"
#include "core/quantity.h"
#include "core/yaml_load.h"

namespace gpuslice::core {
namespace {

// Reads one YAML document into a Config, remembering the file name for error messages.
// Every error names "<file>:<line>:<column>: <field path>: <problem>".
class ConfigReader {
 public:
  explicit ConfigReader(std::string_view file_name) : file_name_(file_name) {}

  Status Error(const YAML::Node& node, const std::string& path, const std::string& problem) const {
    return ErrorAt(node.Mark(), path, problem);
  }

  Status ErrorAt(const YAML::Mark& mark, const std::string& path,
                 const std::string& problem) const {
    std::string message = std::string(file_name_);
    if (!mark.is_null()) {
      message += ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
    }
    message += ": ";
    if (!path.empty()) message += path + ": ";
    message += problem;
    return Status::InvalidArgument(std::move(message));
  }

  // Rejects keys outside `allowed`, so a misspelt field is an error rather than ignored.
  Status CheckMap(const YAML::Node& node, const std::string& path,
                  std::initializer_list<std::string_view> allowed) const {
    if (!node.IsMap()) return Error(node, path, "expected a mapping");
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (!it->first.IsScalar()) return Error(it->first, path, "keys must be plain strings");
      const std::string& key = it->first.Scalar();
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        std::string known;
        for (std::string_view k : allowed) known += (known.empty() ? "" : ", ") + std::string(k);
        return Error(it->first, Join(path, key), "unknown field (known fields: " + known + ")");
      }
    }
    return Status::Ok();
  }

  Result<std::string> String(const YAML::Node& node, const std::string& path) const {
    if (!node.IsScalar()) return Error(node, path, "expected a string");
    return node.Scalar();
  }

  Result<int64_t> Integer(const YAML::Node& node, const std::string& path, int64_t min,
                          int64_t max) const {
    if (!node.IsScalar()) return Error(node, path, "expected an integer");
    const std::string& text = node.Scalar();
    int64_t value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || error != std::errc() || end != text.data() + text.size()) {
      return Error(node, path, "\"" + text + "\" is not an integer");
    }
    if (value < min || value > max) {
      return Error(node, path,
                   text + " is out of range (" + std::to_string(min) + "-" + std::to_string(max) +
                       ")");
    }
    return value;
  }

  Result<bool> Bool(const YAML::Node& node, const std::string& path) const {
    if (node.IsScalar()) {
      std::string text = node.Scalar();
      std::transform(text.begin(), text.end(), text.begin(), ::tolower);
      if (text == "true" || text == "yes" || text == "on") return true;
      if (text == "false" || text == "no" || text == "off") return false;
    }
    return Error(node, path, "expected true or false");
  }

  Result<uint64_t> Bytes(const YAML::Node& node, const std::string& path) const {
    if (!node.IsScalar()) return Error(node, path, "expected a quantity such as 512Mi or 1Gi");
    Result<Quantity> quantity = Quantity::Parse(node.Scalar());
    if (!quantity.ok()) return Error(node, path, quantity.status().message());
    Result<int64_t> value = quantity->Value();
    if (!value.ok()) return Error(node, path, value.status().message());
    if (*value < 0) return Error(node, path, "\"" + node.Scalar() + "\" must not be negative");
    return static_cast<uint64_t>(*value);
  }

  Result<std::chrono::seconds> Seconds(const YAML::Node& node, const std::string& path) const {
    if (!node.IsScalar()) return Error(node, path, "expected a duration such as 30s or 5m");
    Result<std::chrono::milliseconds> duration = ParseDuration(node.Scalar());
    if (!duration.ok()) return Error(node, path, duration.status().message());
    // Whole seconds: "500ms" must not silently become 0, which means something else.
    if (duration->count() % 1000 != 0) {
      return Error(node, path, "\"" + node.Scalar() + "\" is not a whole number of seconds");
    }
    return std::chrono::duration_cast<std::chrono::seconds>(*duration);
  }

  Result<std::string> AbsolutePath(const YAML::Node& node, const std::string& path) const {
    Result<std::string> text = String(node, path);
    if (!text.ok()) return text;
    if (text->empty() || text->front() != '/') {
      return Error(node, path, "\"" + *text + "\" must be an absolute path");
    }
    return text;
  }

  Status ReadProfile(const YAML::Node& node, const std::string& path, bool is_default,
                     SlicingProfile* profile) const;
  Status ReadSelector(const YAML::Node& node, const std::string& path,
                      GpuSelector* selector) const;
  Status ReadHealth(const YAML::Node& node, const std::string& path, HealthConfig* health) const;
  Status ReadDra(const YAML::Node& node, const std::string& path, DraConfig* dra) const;
  Status ReadStrategies(const YAML::Node& node, std::vector<DeviceListStrategy>* strategies) const;
  Result<Config> Read(const YAML::Node& root) const;

  static std::string Join(const std::string& path, std::string_view key) {
    return path.empty() ? std::string(key) : path + "." + std::string(key);
  }
  static std::string Index(const std::string& path, size_t i) {
    return path + "[" + std::to_string(i) + "]";
  }

 private:
  std::string_view file_name_;
};

Status ConfigReader::ReadSelector(const YAML::Node& node, const std::string& path,
                                  GpuSelector* selector) const {
  GPUSLICE_RETURN_IF_ERROR(CheckMap(node, path, {"models", "indices", "uuids"}));
  if (node.size() != 1) {
    return Error(node, path, "give exactly one of models, indices or uuids");
  }
  const YAML::const_iterator entry = node.begin();
  const std::string key = entry->first.Scalar();
  const YAML::Node list = entry->second;
  const std::string list_path = Join(path, key);
  if (!list.IsSequence() || list.size() == 0) {
    return Error(list, list_path, "expected a non-empty list");
  }
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string item_path = Index(list_path, i);
    if (key == "indices") {
      Result<int64_t> index = Integer(list[i], item_path, 0, 1023);
      if (!index.ok()) return index.status();
      if (std::count(selector->indices.begin(), selector->indices.end(), *index) > 0) {
        return Error(list[i], item_path, "GPU index " + std::to_string(*index) + " is listed twice");
      }
      selector->indices.push_back(static_cast<int>(*index));
      continue;
    }
    Result<std::string> text = String(list[i], item_path);
    if (!text.ok()) return text.status();
    if (text->empty()) return Error(list[i], item_path, "must not be empty");
    (key == "models" ? selector->models : selector->uuids).push_back(*text);
  }
  return Status::Ok();
}

Status ConfigReader::ReadProfile(const YAML::Node& node, const std::string& path, bool is_default,
                                 SlicingProfile* profile) const {
  if (is_default) {
    GPUSLICE_RETURN_IF_ERROR(CheckMap(node, path,
                                      {"slices", "reservedMemory", "resourceName", "enforceCompute",
                                       "injection", "allowDisable", "distinctGpus"}));
  } else {
    GPUSLICE_RETURN_IF_ERROR(CheckMap(node, path,
                                      {"name", "match", "slices", "reservedMemory", "resourceName",
                                       "enforceCompute", "injection", "allowDisable",
                                       "distinctGpus"}));
    const YAML::Node& name = node["name"];
    if (!name) return Error(node, Join(path, "name"), "is required");
    Result<std::string> text = String(name, Join(path, "name"));
    if (!text.ok()) return text.status();
    if (text->empty() || text->size() > 63 ||
        !std::all_of(text->begin(), text->end(), [](char c) {
          return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
        })) {
      return Error(name, Join(path, "name"),
                   "\"" + *text + "\" must be 1-63 lower-case letters, digits or '-'");
    }
    profile->name = *text;
    const YAML::Node& match = node["match"];
    if (!match) {
      return Error(node, Join(path, "match"),
                   "is required (models, indices or uuids); unmatched GPUs use defaultProfile");
    }
    GPUSLICE_RETURN_IF_ERROR(ReadSelector(match, Join(path, "match"), &profile->match));
  }
  if (const YAML::Node& slices = node["slices"]) {
    Result<int64_t> value = Integer(slices, Join(path, "slices"), 1, kMaxSlicesPerGpu);
    if (!value.ok()) return value.status();
    profile->slices = static_cast<int>(*value);
  }
  if (const YAML::Node& reserved = node["reservedMemory"]) {
    Result<uint64_t> bytes = Bytes(reserved, Join(path, "reservedMemory"));
    if (!bytes.ok()) return bytes.status();
    profile->reserved_memory_bytes = *bytes;
  }
  if (const YAML::Node& resource = node["resourceName"]) {
    Result<std::string> text = String(resource, Join(path, "resourceName"));
    if (!text.ok()) return text.status();
    Status valid = ValidateResourceName(*text);
    if (!valid.ok()) return Error(resource, Join(path, "resourceName"), valid.message());
    profile->resource_name = *text;
  }
  if (const YAML::Node& enforce = node["enforceCompute"]) {
    Result<bool> value = Bool(enforce, Join(path, "enforceCompute"));
    if (!value.ok()) return value.status();
    profile->enforce_compute = *value;
  }
  if (const YAML::Node& allow = node["allowDisable"]) {
    Result<bool> value = Bool(allow, Join(path, "allowDisable"));
    if (!value.ok()) return value.status();
    profile->allow_disable = *value;
  }
  if (const YAML::Node& distinct = node["distinctGpus"]) {
    Result<bool> value = Bool(distinct, Join(path, "distinctGpus"));
    if (!value.ok()) return value.status();
    profile->distinct_gpus = *value;
  }
  if (const YAML::Node& injection = node["injection"]) {
    Result<std::string> text = String(injection, Join(path, "injection"));
    if (!text.ok()) return text.status();
    if (*text == "preload") {
      profile->injection = LibraryInjection::kPreloadFile;
    } else if (*text == "env") {
      profile->injection = LibraryInjection::kEnv;
    } else {
      return Error(injection, Join(path, "injection"),
                   "\"" + *text + "\" is not one of preload, env");
    }
  }
  return Status::Ok();
}

Status ConfigReader::ReadHealth(const YAML::Node& node, const std::string& path,
                                HealthConfig* health) const {
  GPUSLICE_RETURN_IF_ERROR(
      CheckMap(node, path, {"enabled", "ignoredXids", "resetRequiredXids", "recoveryWindow"}));
  if (const YAML::Node& enabled = node["enabled"]) {
    Result<bool> value = Bool(enabled, Join(path, "enabled"));
    if (!value.ok()) return value.status();
    health->enabled = *value;
  }
  for (const auto& [key, list] : {std::pair<const char*, std::vector<int>*>{
                                       "ignoredXids", &health->extra_ignored_xids},
                                   {"resetRequiredXids", &health->extra_reset_required_xids}}) {
    const YAML::Node& xids = node[key];
    if (!xids) continue;
    const std::string xids_path = Join(path, key);
    if (!xids.IsSequence()) return Error(xids, xids_path, "expected a list of XID numbers");
    for (size_t i = 0; i < xids.size(); ++i) {
      Result<int64_t> xid = Integer(xids[i], Index(xids_path, i), 1, 65535);
      if (!xid.ok()) return xid.status();
      list->push_back(static_cast<int>(*xid));
    }
  }
  if (const YAML::Node& window = node["recoveryWindow"]) {
    Result<std::chrono::seconds> value = Seconds(window, Join(path, "recoveryWindow"));
    if (!value.ok()) return value.status();
    health->recovery_window = *value;
  }
  return Status::Ok();
}

Status ConfigReader::ReadDra(const YAML::Node& node, const std::string& path,
                             DraConfig* dra) const {
  GPUSLICE_RETURN_IF_ERROR(CheckMap(node, path,
                                    {"memory", "compute", "requireMemory", "nvidiaDriver",
                                     "cdiDir", "kubeletPluginsDir", "kubeletRegistryDir"}));
  if (const YAML::Node& memory = node["memory"]) {
    const std::string memory_path = Join(path, "memory");
    GPUSLICE_RETURN_IF_ERROR(CheckMap(memory, memory_path, {"default", "min", "step"}));
    for (const auto& [key, out] : {std::pair<const char*, uint64_t*>{"default",
                                                                     &dra->memory_default_bytes},
                                   {"min", &dra->memory_min_bytes},
                                   {"step", &dra->memory_step_bytes}}) {
      if (const YAML::Node& value = memory[key]) {
        Result<uint64_t> bytes = Bytes(value, Join(memory_path, key));
        if (!bytes.ok()) return bytes.status();
        *out = *bytes;
      }
    }
  }
  if (const YAML::Node& compute = node["compute"]) {
    GPUSLICE_RETURN_IF_ERROR(CheckMap(compute, Join(path, "compute"), {"default"}));
    if (const YAML::Node& value = compute["default"]) {
      Result<int64_t> percent = Integer(value, Join(path, "compute.default"), 0, 100);
      if (!percent.ok()) return percent.status();
      dra->compute_default_percent = static_cast<int>(*percent);
    }
  }
  if (const YAML::Node& require = node["requireMemory"]) {
    Result<bool> value = Bool(require, Join(path, "requireMemory"));
    if (!value.ok()) return value.status();
    dra->require_memory = *value;
  }
  if (const YAML::Node& driver = node["nvidiaDriver"]) {
    Result<std::string> text = String(driver, Join(path, "nvidiaDriver"));
    if (!text.ok()) return text.status();
    if (*text == "env") {
      dra->nvidia_driver = NvidiaDriverInjection::kEnv;
    } else if (*text == "cdi") {
      dra->nvidia_driver = NvidiaDriverInjection::kCdi;
    } else {
      return Error(driver, Join(path, "nvidiaDriver"), "\"" + *text + "\" is not one of env, cdi");
    }
  }
  for (const auto& [key, out] : {std::pair<const char*, std::string*>{"cdiDir", &dra->cdi_dir},
                                 {"kubeletPluginsDir", &dra->kubelet_plugins_dir},
                                 {"kubeletRegistryDir", &dra->kubelet_registry_dir}}) {
    if (const YAML::Node& dir = node[key]) {
      Result<std::string> value = AbsolutePath(dir, Join(path, key));
      if (!value.ok()) return value.status();
      *out = *value;
    }
  }
  return Status::Ok();
}

Status ConfigReader::ReadStrategies(const YAML::Node& node,
                                    std::vector<DeviceListStrategy>* strategies) const {
  const std::string path = "deviceListStrategy";
  // NVIDIA's plugin takes one name or a list; so does gpuslice.
  std::vector<YAML::Node> items;
  if (node.IsScalar()) {
    items.push_back(node);
  } else if (node.IsSequence() && node.size() > 0) {
    for (size_t i = 0; i < node.size(); ++i) items.push_back(node[i]);
  } else {
    return Error(node, path, "expected envvar, cdi-cri, cdi-annotations or a non-empty list of them");
  }
  strategies->clear();
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string item_path = node.IsScalar() ? path : Index(path, i);
    Result<std::string> text = String(items[i], item_path);
    if (!text.ok()) return text.status();
    std::optional<DeviceListStrategy> strategy;
    for (DeviceListStrategy known : {DeviceListStrategy::kEnvvar, DeviceListStrategy::kCdiCri,
                                     DeviceListStrategy::kCdiAnnotations}) {
      if (*text == DeviceListStrategyName(known)) strategy = known;
    }
    if (!strategy) {
      return Error(items[i], item_path,
                   "\"" + *text + "\" is not one of envvar, cdi-cri, cdi-annotations");
    }
    if (std::find(strategies->begin(), strategies->end(), *strategy) != strategies->end()) {
      return Error(items[i], item_path, "\"" + *text + "\" is listed twice");
    }
    strategies->push_back(*strategy);
  }
  return Status::Ok();
}

Result<Config> ConfigReader::Read(const YAML::Node& root) const {
  if (!root.IsDefined() || root.IsNull()) {
    return ErrorAt(YAML::Mark::null_mark(), "", "the config is empty (expected version: v1)");
  }
  GPUSLICE_RETURN_IF_ERROR(CheckMap(root, "",
                                    {"version", "devicePluginDir", "allocationPolicy", "health",
                                     "library", "regionsDir", "deviceListStrategy",
                                     "passDeviceSpecs", "defaultProfile", "profiles", "dra"}));
  const YAML::Node& version = root["version"];
  if (!version) return Error(root, "version", "is required and must be v1");
  Result<std::string> version_text = String(version, "version");
  if (!version_text.ok()) return version_text.status();
  if (*version_text != kConfigVersion) {
    return Error(version, "version", "\"" + *version_text + "\" is not supported (use v1)");
  }

  Config config;
  if (const YAML::Node& dir = root["devicePluginDir"]) {
    Result<std::string> path = AbsolutePath(dir, "devicePluginDir");
    if (!path.ok()) return path.status();
    config.device_plugin_dir = *path;
  }
  if (const YAML::Node& policy = root["allocationPolicy"]) {
    Result<std::string> text = String(policy, "allocationPolicy");
    if (!text.ok()) return text.status();
    if (*text == "packed") {
      config.allocation_policy = AllocationPolicy::kPacked;
    } else if (*text == "spread") {
      config.allocation_policy = AllocationPolicy::kSpread;
    } else {
      return Error(policy, "allocationPolicy", "\"" + *text + "\" is not one of packed, spread");
    }
  }
  if (const YAML::Node& health = root["health"]) {
    GPUSLICE_RETURN_IF_ERROR(ReadHealth(health, "health", &config.health));
  }
  if (const YAML::Node& library = root["library"]) {
    GPUSLICE_RETURN_IF_ERROR(CheckMap(library, "library", {"hostDir"}));
    if (const YAML::Node& dir = library["hostDir"]) {
      Result<std::string> path = AbsolutePath(dir, "library.hostDir");
      if (!path.ok()) return path.status();
      config.library_host_dir = *path;
    }
  }
  if (const YAML::Node& dir = root["regionsDir"]) {
    Result<std::string> path = AbsolutePath(dir, "regionsDir");
    if (!path.ok()) return path.status();
    config.regions_host_dir = *path;
  }
  if (const YAML::Node& strategy = root["deviceListStrategy"]) {
    GPUSLICE_RETURN_IF_ERROR(ReadStrategies(strategy, &config.device_list_strategies));
  }
  if (const YAML::Node& pass = root["passDeviceSpecs"]) {
    Result<bool> value = Bool(pass, "passDeviceSpecs");
    if (!value.ok()) return value.status();
    config.pass_device_specs = *value;
  }
  if (const YAML::Node& profile = root["defaultProfile"]) {
    GPUSLICE_RETURN_IF_ERROR(
        ReadProfile(profile, "defaultProfile", /*is_default=*/true, &config.default_profile));
  }
  if (const YAML::Node& profiles = root["profiles"]) {
    if (!profiles.IsSequence()) return Error(profiles, "profiles", "expected a list of profiles");
    std::map<std::string, size_t> names;
    std::map<int, size_t> indices;
    std::map<std::string, size_t> uuids;
    for (size_t i = 0; i < profiles.size(); ++i) {
      const std::string path = Index("profiles", i);
      SlicingProfile profile;
      GPUSLICE_RETURN_IF_ERROR(ReadProfile(profiles[i], path, /*is_default=*/false, &profile));
      auto clash = [&](const std::string& what, size_t other) {
        return Error(profiles[i], path,
                     what + " is also claimed by profiles[" + std::to_string(other) +
                         "]; a GPU belongs to at most one profile");
      };
      if (auto [it, inserted] = names.emplace(profile.name, i); !inserted) {
        return clash("name \"" + profile.name + "\"", it->second);
      }
      for (int index : profile.match.indices) {
        if (auto [it, inserted] = indices.emplace(index, i); !inserted) {
          return clash("GPU index " + std::to_string(index), it->second);
        }
      }
      for (const std::string& uuid : profile.match.uuids) {
        if (auto [it, inserted] = uuids.emplace(uuid, i); !inserted) {
          return clash("GPU " + uuid, it->second);
        }
      }
      config.profiles.push_back(std::move(profile));
    }
  }
  if (const YAML::Node& dra = root["dra"]) GPUSLICE_RETURN_IF_ERROR(ReadDra(dra, "dra", &config.dra));
  return config;
}

void EmitProfile(const SlicingProfile& profile, bool is_default, YAML::Emitter& out) {
  out << YAML::BeginMap;
  if (!is_default) {
    out << YAML::Key << "name" << YAML::Value << profile.name;
    out << YAML::Key << "match" << YAML::Value << YAML::BeginMap;
    if (!profile.match.models.empty()) {
      out << YAML::Key << "models" << YAML::Value << YAML::Flow << profile.match.models;
    }
    if (!profile.match.indices.empty()) {
      out << YAML::Key << "indices" << YAML::Value << YAML::Flow << profile.match.indices;
    }
    if (!profile.match.uuids.empty()) {
      out << YAML::Key << "uuids" << YAML::Value << YAML::Flow << profile.match.uuids;
    }
    out << YAML::EndMap;
  }
  out << YAML::Key << "slices" << YAML::Value << profile.slices;
  out << YAML::Key << "reservedMemory" << YAML::Value
      << FormatBytes(profile.reserved_memory_bytes);
  out << YAML::Key << "resourceName" << YAML::Value << profile.resource_name;
  out << YAML::Key << "enforceCompute" << YAML::Value << profile.enforce_compute;
  out << YAML::Key << "injection" << YAML::Value
      << (profile.injection == LibraryInjection::kEnv ? "env" : "preload");
  // Written only when set: the default is what every rendered config should keep.
  if (profile.allow_disable) out << YAML::Key << "allowDisable" << YAML::Value << true;
  if (profile.distinct_gpus) out << YAML::Key << "distinctGpus" << YAML::Value << true;
  out << YAML::EndMap;
}

}  // namespace

std::string_view DeviceListStrategyName(DeviceListStrategy strategy) {
  switch (strategy) {
    case DeviceListStrategy::kEnvvar:
      return "envvar";
    case DeviceListStrategy::kCdiCri:
      return "cdi-cri";
    case DeviceListStrategy::kCdiAnnotations:
      return "cdi-annotations";
  }
  return "unknown";
}

bool Config::UsesStrategy(DeviceListStrategy strategy) const {
  return std::find(device_list_strategies.begin(), device_list_strategies.end(), strategy) !=
         device_list_strategies.end();
}

const std::vector<int>& DefaultResetRequiredXids() {
  // NVIDIA's XID catalog: double-bit ECC (48), row remapping pending or failed (63, 64),
  // NVLink (74), fallen off the bus (79), uncontained ECC (95), GSP timeout or error (119, 120).
  static const std::vector<int> kResetRequired = {48, 63, 64, 74, 79, 95, 119, 120};
  return kResetRequired;
}

const std::vector<int>& DefaultIgnoredXids() {
  // NVIDIA documents these as caused by applications (or, 109, a context-switch timeout), so a
  // GPU reporting them is still fit for other pods.
  static const std::vector<int> kIgnored = {13, 31, 43, 45, 68, 109};
  return kIgnored;
}

Result<Config> ParseConfig(std::string_view yaml_text, std::string_view file_name) {
  ConfigReader reader(file_name);
  Result<YAML::Node> root = LoadYaml(yaml_text, file_name);
  if (!root.ok()) return root.status();
  try {
    Result<Config> config = reader.Read(*root);
    if (!config.ok()) return config;
    GPUSLICE_RETURN_IF_ERROR(ValidateConfig(*config).WithContext(file_name));
    return config;
  } catch (const YAML::Exception& e) {
    return reader.ErrorAt(e.mark, "", e.msg);
  }
}

Status ValidateConfig(const Config& config) {
  auto check_profile = [](const SlicingProfile& profile, const std::string& path) -> Status {
    if (profile.slices < 1 || profile.slices > kMaxSlicesPerGpu) {
      return Status::InvalidArgument(path + ".slices: " + std::to_string(profile.slices) +
                                     " is out of range (1-" + std::to_string(kMaxSlicesPerGpu) +
                                     ")");
    }
    GPUSLICE_RETURN_IF_ERROR(
        ValidateResourceName(profile.resource_name).WithContext(path + ".resourceName"));
    return Status::Ok();
  };
  GPUSLICE_RETURN_IF_ERROR(check_profile(config.default_profile, "defaultProfile"));
  for (size_t i = 0; i < config.profiles.size(); ++i) {
    const std::string path = "profiles[" + std::to_string(i) + "]";
    GPUSLICE_RETURN_IF_ERROR(check_profile(config.profiles[i], path));
    if (config.profiles[i].match.empty()) {
      return Status::InvalidArgument(path + ".match: give one of models, indices or uuids");
    }
  }
  for (const auto& [field, path] : {std::pair<const char*, const std::string*>{
                                        "devicePluginDir", &config.device_plugin_dir},
                                    {"library.hostDir", &config.library_host_dir},
                                    {"regionsDir", &config.regions_host_dir}}) {
    if (path->empty() || path->front() != '/') {
      return Status::InvalidArgument(std::string(field) + ": \"" + *path +
                                     "\" must be an absolute path");
    }
  }
  if (config.health.recovery_window.count() < 0) {
    return Status::InvalidArgument("health.recoveryWindow must not be negative");
  }
  if (config.device_list_strategies.empty()) {
    return Status::InvalidArgument("deviceListStrategy: give at least one of envvar, cdi-cri, "
                                   "cdi-annotations");
  }
  for (size_t i = 0; i < config.device_list_strategies.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (config.device_list_strategies[i] == config.device_list_strategies[j]) {
        return Status::InvalidArgument(
            "deviceListStrategy: \"" +
            std::string(DeviceListStrategyName(config.device_list_strategies[i])) +
            "\" is listed twice");
      }
    }
  }
  return ValidateDraConfig(config.dra);
}

Status ValidateDraConfig(const DraConfig& dra) {
  if (dra.memory_min_bytes == 0 || dra.memory_step_bytes == 0) {
    return Status::InvalidArgument("dra.memory: min and step must be more than zero");
  }
  if (dra.memory_default_bytes < dra.memory_min_bytes ||
      (dra.memory_default_bytes - dra.memory_min_bytes) % dra.memory_step_bytes != 0) {
    return Status::InvalidArgument(
        "dra.memory.default: " + FormatBytes(dra.memory_default_bytes) + " must be min (" +
        FormatBytes(dra.memory_min_bytes) + ") plus a whole number of steps (" +
        FormatBytes(dra.memory_step_bytes) + ")");
  }
  if (dra.compute_default_percent < 0 || dra.compute_default_percent > 100) {
    return Status::InvalidArgument("dra.compute.default: " +
                                   std::to_string(dra.compute_default_percent) +
                                   " is out of range (0-100)");
  }
  for (const auto& [field, path] : {std::pair<const char*, const std::string*>{
                                        "dra.cdiDir", &dra.cdi_dir},
                                    {"dra.kubeletPluginsDir", &dra.kubelet_plugins_dir},
                                    {"dra.kubeletRegistryDir", &dra.kubelet_registry_dir}}) {
    if (path->empty() || path->front() != '/') {
      return Status::InvalidArgument(std::string(field) + ": \"" + *path +
                                     "\" must be an absolute path");
    }
  }
  return Status::Ok();
}

std::string FormatConfig(const Config& config) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "version" << YAML::Value << std::string(kConfigVersion);
  out << YAML::Key << "devicePluginDir" << YAML::Value << config.device_plugin_dir;
  out << YAML::Key << "allocationPolicy" << YAML::Value
      << (config.allocation_policy == AllocationPolicy::kSpread ? "spread" : "packed");
  out << YAML::Key << "health" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "enabled" << YAML::Value << config.health.enabled;
  out << YAML::Key << "ignoredXids" << YAML::Value << YAML::Flow
      << config.health.extra_ignored_xids;
  out << YAML::Key << "resetRequiredXids" << YAML::Value << YAML::Flow
      << config.health.extra_reset_required_xids;
  out << YAML::Key << "recoveryWindow" << YAML::Value
      << FormatDuration(config.health.recovery_window);
  out << YAML::EndMap;
  out << YAML::Key << "library" << YAML::Value << YAML::BeginMap << YAML::Key << "hostDir"
      << YAML::Value << config.library_host_dir << YAML::EndMap;
  out << YAML::Key << "regionsDir" << YAML::Value << config.regions_host_dir;
  out << YAML::Key << "deviceListStrategy" << YAML::Value << YAML::Flow << YAML::BeginSeq;
  for (DeviceListStrategy strategy : config.device_list_strategies) {
    out << std::string(DeviceListStrategyName(strategy));
  }
  out << YAML::EndSeq;
  out << YAML::Key << "passDeviceSpecs" << YAML::Value << config.pass_device_specs;
  out << YAML::Key << "defaultProfile" << YAML::Value;
  EmitProfile(config.default_profile, /*is_default=*/true, out);
  out << YAML::Key << "profiles" << YAML::Value << YAML::BeginSeq;
  for (const SlicingProfile& profile : config.profiles) {
    EmitProfile(profile, /*is_default=*/false, out);
  }
  out << YAML::EndSeq;
  const DraConfig& dra = config.dra;
  out << YAML::Key << "dra" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "memory" << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key
      << "default" << YAML::Value << FormatBytes(dra.memory_default_bytes) << YAML::Key << "min"
      << YAML::Value << FormatBytes(dra.memory_min_bytes) << YAML::Key << "step" << YAML::Value
      << FormatBytes(dra.memory_step_bytes) << YAML::EndMap;
  out << YAML::Key << "compute" << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key
      << "default" << YAML::Value << dra.compute_default_percent << YAML::EndMap;
  out << YAML::Key << "requireMemory" << YAML::Value << dra.require_memory;
  out << YAML::Key << "nvidiaDriver" << YAML::Value
      << (dra.nvidia_driver == NvidiaDriverInjection::kCdi ? "cdi" : "env");
  out << YAML::Key << "cdiDir" << YAML::Value << dra.cdi_dir;
  out << YAML::Key << "kubeletPluginsDir" << YAML::Value << dra.kubelet_plugins_dir;
  out << YAML::Key << "kubeletRegistryDir" << YAML::Value << dra.kubelet_registry_dir;
  out << YAML::EndMap << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

Result<std::vector<const SlicingProfile*>> AssignProfiles(const Config& config,
                                                          const std::vector<GpuInfo>& gpus) {
  std::vector<const SlicingProfile*> assigned;
  assigned.reserve(gpus.size());
  for (const GpuInfo& gpu : gpus) {
    const SlicingProfile* match = nullptr;
    for (const SlicingProfile& profile : config.profiles) {
      if (!profile.match.Matches(gpu)) continue;
      if (match != nullptr) {
        return Status::InvalidArgument("GPU " + std::to_string(gpu.index) + " (" + gpu.uuid +
                                       ", \"" + gpu.name + "\") is matched by both profile \"" +
                                       match->name + "\" and profile \"" + profile.name +
                                       "\"; a GPU belongs to at most one profile");
      }
      match = &profile;
    }
    assigned.push_back(match != nullptr ? match : &config.default_profile);
  }
  return assigned;
}

}  // namespace gpuslice::core
