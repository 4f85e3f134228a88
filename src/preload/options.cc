#include "preload/options.h"

#include <algorithm>
#include <charconv>
#include <limits>

namespace gpuslice::preload {
namespace {

namespace contract = core::contract;

constexpr std::string_view kGpuslicePrefix = "GPUSLICE_";

struct EnvEntry {
  std::string_view name;
  std::string_view value;
};

// The entries of an environment block, first occurrence of each name only (what getenv sees).
class Environ {
 public:
  explicit Environ(std::string_view block) {
    size_t start = 0;
    while (start < block.size()) {
      size_t end = block.find('\0', start);
      if (end == std::string_view::npos) end = block.size();
      const std::string_view entry = block.substr(start, end - start);
      start = end + 1;
      const size_t equals = entry.find('=');
      if (equals == std::string_view::npos || equals == 0) continue;
      const EnvEntry parsed{entry.substr(0, equals), entry.substr(equals + 1)};
      if (!Get(parsed.name)) entries_.push_back(parsed);
    }
  }

  std::optional<std::string_view> Get(std::string_view name) const {
    for (const EnvEntry& entry : entries_) {
      if (entry.name == name) return entry.value;
    }
    return std::nullopt;
  }

  // GPUSLICE_* entries that are the library's business (the simulated driver's are not).
  std::vector<EnvEntry> GpusliceEntries() const {
    std::vector<EnvEntry> found;
    for (const EnvEntry& entry : entries_) {
      if (entry.name.substr(0, kGpuslicePrefix.size()) == kGpuslicePrefix &&
          entry.name.substr(0, contract::kSimEnvPrefix.size()) != contract::kSimEnvPrefix) {
        found.push_back(entry);
      }
    }
    return found;
  }

 private:
  std::vector<EnvEntry> entries_;
};

// A value as it can be shown on one stderr line.
std::string Printable(std::string_view value) {
  std::string out;
  for (char c : value.substr(0, 80)) {
    const auto byte = static_cast<unsigned char>(c);
    out += byte < 0x20 || byte == 0x7f ? '?' : c;
  }
  if (value.size() > 80) out += "...";
  return out;
}

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

std::vector<std::string> SplitList(std::string_view text) {
  std::vector<std::string> items;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    std::string_view item = text.substr(start, comma - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) items.emplace_back(item);
    start = comma + 1;
  }
  return items;
}

Result<uint64_t> ParseUnsigned(std::string_view name, std::string_view value, uint64_t max) {
  uint64_t parsed = 0;
  auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), parsed);
  if (value.empty() || error != std::errc() || end != value.data() + value.size() || parsed > max) {
    return Status::InvalidArgument(std::string(name) + "='" + Printable(value) +
                                   "' is not a whole number from 0 to " + std::to_string(max));
  }
  return parsed;
}

// The GPU index of "<prefix><i>" written the one way MemoryLimitEnv writes it; -1 otherwise.
int IndexAfter(std::string_view name, std::string_view prefix) {
  if (name.substr(0, prefix.size()) != prefix) return -1;
  const std::string_view digits = name.substr(prefix.size());
  for (char c : digits) {
    if (c < '0' || c > '9') return -1;
  }
  int index = 0;
  auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
  if (digits.empty() || digits.size() > 4 || error != std::errc() ||
      end != digits.data() + digits.size() || (digits.size() > 1 && digits[0] == '0')) {
    return -1;
  }
  return index;
}

std::string NameOfGpu(const Options& options, int index) {
  std::string name = "GPU " + std::to_string(index);
  if (!options.devices[index].uuid.empty()) name += " (" + options.devices[index].uuid + ")";
  return name;
}

Result<Options> FromLimitsFile(std::string_view text, const Environ& env,
                               std::vector<std::string>* warnings) {
  const std::string source(contract::kContainerLimitsFile);
  Result<contract::LimitsFile> file = contract::ParseLimitsFile(text);
  if (!file.ok()) return file.status().WithContext(source);
  Options options;
  options.source = source;
  options.enforce = true;
  options.device_count = static_cast<int>(file->gpus.size());
  for (int i = 0; i < options.device_count; ++i) {
    options.devices[i] = {file->gpus[i].uuid, file->gpus[i].memory_bytes,
                          file->gpus[i].compute_percent};
  }
  options.region_path = file->region_path;
  options.region_required = !file->region_path.empty();

  if (std::optional<std::string_view> off = env.Get(kDisableEnv);
      off && *off != "" && *off != "0") {
    if (*off == "1" && file->allow_disable) {
      options.enforce = false;
      warnings->push_back(std::string(kDisableEnv) +
                          "=1: enforcement is off in this process (its profile allows it)");
      return options;
    }
    warnings->push_back(std::string(kDisableEnv) + "='" + Printable(*off) + "' is ignored: " +
                        (file->allow_disable ? "use 1 (enforcement off) or 0"
                                             : "the profile of this container's GPUs does not "
                                               "allow switching enforcement off (allowDisable)"));
  }

  // The plugin sets the same limits in the environment for programs to read; anything else
  // there was set by someone else and changes nothing.
  std::vector<std::string> ignored;
  for (const EnvEntry& entry : env.GpusliceEntries()) {
    if (entry.name == kDisableEnv) continue;
    if (entry.name == contract::kRegionEnv && entry.value == options.region_path) continue;
    const int memory = IndexAfter(entry.name, contract::kMemoryLimitEnvPrefix);
    if (memory >= 0 && memory < options.device_count &&
        entry.value == std::to_string(options.devices[memory].memory_bytes)) {
      continue;
    }
    const int compute = IndexAfter(entry.name, contract::kComputeLimitEnvPrefix);
    if (compute >= 0 && compute < options.device_count &&
        entry.value == std::to_string(options.devices[compute].compute_percent)) {
      continue;
    }
    ignored.push_back(std::string(entry.name) + "='" + Printable(entry.value) + "'");
  }
  if (!ignored.empty()) {
    warnings->push_back("ignoring " + Join(ignored) + ": this container's limits come from " +
                        source);
  }

  if (std::optional<std::string_view> visible = env.Get(contract::kVisibleDevicesEnv)) {
    std::vector<std::string> named;
    for (int i = 0; i < options.device_count; ++i) named.push_back(options.devices[i].uuid);
    if (SplitList(*visible) != named) {
      warnings->push_back(std::string(contract::kVisibleDevicesEnv) + "='" + Printable(*visible) +
                          "' differs from the GPUs of " + source + " (" + Join(named) +
                          "): limits follow those UUIDs, and any other GPU gets a zero memory "
                          "limit");
    }
  }
  return options;
}

Result<Options> FromEnvironment(const Environ& env, std::vector<std::string>* warnings) {
  Options options;
  options.source = "the environment";
  if (std::optional<std::string_view> off = env.Get(kDisableEnv);
      off && *off != "" && *off != "0") {
    if (*off != "1") {
      return Status::InvalidArgument(std::string(kDisableEnv) + "='" + Printable(*off) +
                                     "' must be 1 (enforcement off) or 0");
    }
    return options;
  }

  std::optional<std::string_view> memory[contract::kMaxAllocatedGpus];
  std::optional<std::string_view> compute[contract::kMaxAllocatedGpus];
  int highest = -1;
  std::vector<std::string> unknown;
  for (const EnvEntry& entry : env.GpusliceEntries()) {
    if (entry.name == kDisableEnv || entry.name == contract::kRegionEnv) continue;
    const int memory_index = IndexAfter(entry.name, contract::kMemoryLimitEnvPrefix);
    const int compute_index = IndexAfter(entry.name, contract::kComputeLimitEnvPrefix);
    const int index = memory_index >= 0 ? memory_index : compute_index;
    if (index < 0) {
      // A limit that is misspelt must not leave its GPU unlimited.
      if (entry.name.substr(0, 15) == "GPUSLICE_MEMORY" ||
          entry.name.substr(0, 16) == "GPUSLICE_COMPUTE") {
        return Status::InvalidArgument(std::string(entry.name) +
                                       " is not a libgpuslice variable: limits are " +
                                       std::string(contract::kMemoryLimitEnvPrefix) + "<i> and " +
                                       std::string(contract::kComputeLimitEnvPrefix) +
                                       "<i>, i = 0, 1, ... (no leading zeros)");
      }
      unknown.push_back(std::string(entry.name));
      continue;
    }
    if (index >= contract::kMaxAllocatedGpus) {
      return Status::InvalidArgument(std::string(entry.name) + ": at most " +
                                     std::to_string(contract::kMaxAllocatedGpus) +
                                     " GPUs per container");
    }
    (memory_index >= 0 ? memory : compute)[index] = entry.value;
    highest = std::max(highest, index);
  }
  if (!unknown.empty()) {
    warnings->push_back(
        Join(unknown) + (unknown.size() == 1 ? " is" : " are") +
        " not read by libgpuslice (it reads " + std::string(contract::kMemoryLimitEnvPrefix) +
        "<i>, " + std::string(contract::kComputeLimitEnvPrefix) + "<i>, " +
        std::string(contract::kRegionEnv) + ", " + std::string(kDisableEnv) + "): ignored");
  }
  if (highest < 0) return options;

  std::vector<std::string> uuids;
  if (std::optional<std::string_view> visible = env.Get(contract::kVisibleDevicesEnv)) {
    uuids = SplitList(*visible);
    // "all", "none", "void" or indices: CUDA ordinals are the only mapping there is.
    bool all_uuids = !uuids.empty();
    for (const std::string& item : uuids) all_uuids = all_uuids && item.substr(0, 4) == "GPU-";
    if (!all_uuids) uuids.clear();
  }
  if (uuids.size() > static_cast<size_t>(contract::kMaxAllocatedGpus)) {
    return Status::InvalidArgument(
        std::string(contract::kVisibleDevicesEnv) + " names " + std::to_string(uuids.size()) +
        " GPUs; libgpuslice limits at most " + std::to_string(contract::kMaxAllocatedGpus));
  }
  if (!uuids.empty() && highest >= static_cast<int>(uuids.size())) {
    return Status::InvalidArgument("limits are set for GPU " + std::to_string(highest) + " but " +
                                   std::string(contract::kVisibleDevicesEnv) + " names " +
                                   std::to_string(uuids.size()));
  }
  options.device_count = uuids.empty() ? highest + 1 : static_cast<int>(uuids.size());
  bool any_memory = false;
  for (const auto& limit : memory) any_memory = any_memory || limit.has_value();
  std::vector<std::string> zeroed;
  for (int i = 0; i < options.device_count; ++i) {
    DeviceLimit& device = options.devices[i];
    if (!uuids.empty()) device.uuid = uuids[i];
    if (memory[i]) {
      Result<uint64_t> bytes =
          ParseUnsigned(contract::MemoryLimitEnv(i), *memory[i], contract::kMaxMemoryLimitBytes);
      if (!bytes.ok()) return bytes.status();
      device.memory_bytes = *bytes;
    } else if (any_memory || !compute[i]) {
      // Fail closed: the GPU has no limit of its own while another one has.
      device.memory_bytes = 0;
      zeroed.push_back(NameOfGpu(options, i));
    } else {
      device.memory_bytes = std::numeric_limits<uint64_t>::max();  // a compute share only
    }
    if (compute[i]) {
      Result<uint64_t> percent =
          ParseUnsigned(contract::ComputeLimitEnv(i), *compute[i], kUnlimitedComputePercent);
      if (!percent.ok()) return percent.status();
      if (*percent == 0) {
        return Status::InvalidArgument(contract::ComputeLimitEnv(i) +
                                       "='0' is not a share: use 1 to 100");
      }
      device.compute_percent = static_cast<int>(*percent);
    }
  }
  if (!zeroed.empty()) {
    warnings->push_back(Join(zeroed) + (zeroed.size() == 1 ? " has" : " have") + " no " +
                        std::string(contract::kMemoryLimitEnvPrefix) +
                        "<i> of its own while another GPU has one: zero memory limit");
  }
  options.enforce = true;
  if (std::optional<std::string_view> region = env.Get(contract::kRegionEnv)) {
    options.region_path = std::string(*region);
  }
  return options;
}

}  // namespace

int Options::IndexOfUuid(std::string_view uuid) const {
  for (int i = 0; i < device_count; ++i) {
    if (!devices[i].uuid.empty() && devices[i].uuid == uuid) return i;
  }
  return -1;
}

bool HasGpusliceVariables(std::string_view environ) {
  return !Environ(environ).GpusliceEntries().empty();
}

Result<Options> ParseOptions(std::string_view environ, std::optional<std::string_view> limits_file,
                             std::vector<std::string>* warnings) {
  const Environ env(environ);
  return limits_file ? FromLimitsFile(*limits_file, env, warnings) : FromEnvironment(env, warnings);
}

Options FailClosedOptions() {
  Options options;
  options.enforce = true;
  options.device_count = core::contract::kMaxAllocatedGpus;
  options.source = "nothing valid";
  for (DeviceLimit& device : options.devices) device.memory_bytes = 0;
  return options;
}

}  // namespace gpuslice::preload
