#include "preload/options.h"

#include <charconv>
#include <limits>
#include <vector>

namespace gpuslice::preload {
namespace {

namespace contract = core::contract;

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
    return Status::InvalidArgument(std::string(name) + "='" + std::string(value) +
                                   "' is not a whole number from 0 to " + std::to_string(max));
  }
  return parsed;
}

bool IsGpuUuid(std::string_view item) { return item.substr(0, 4) == "GPU-"; }

}  // namespace

int Options::IndexOfUuid(std::string_view uuid) const {
  for (int i = 0; i < device_count; ++i) {
    if (!devices[i].uuid.empty() && devices[i].uuid == uuid) return i;
  }
  return -1;
}

EnvLookup EnvironBlockLookup(std::string block) {
  return [block = std::move(block)](std::string_view name) -> std::optional<std::string> {
    size_t start = 0;
    while (start < block.size()) {
      size_t end = block.find('\0', start);
      if (end == std::string::npos) end = block.size();
      const std::string_view entry(block.data() + start, end - start);
      if (entry.size() > name.size() && entry.substr(0, name.size()) == name &&
          entry[name.size()] == '=') {
        return std::string(entry.substr(name.size() + 1));
      }
      start = end + 1;
    }
    return std::nullopt;
  };
}

bool HasGpusliceVariables(const EnvLookup& env) {
  return env(kDisableEnv) || env(contract::kRegionEnv) || env(contract::MemoryLimitEnv(0)) ||
         env(contract::ComputeLimitEnv(0));
}

Result<Options> ParseOptions(const EnvLookup& env) {
  Options options;
  if (std::optional<std::string> off = env(kDisableEnv); off && *off != "" && *off != "0") {
    if (*off != "1") {
      return Status::InvalidArgument(std::string(kDisableEnv) + "='" + *off +
                                     "' must be 1 (enforcement off) or 0");
    }
    return options;
  }

  std::vector<std::string> uuids;
  if (std::optional<std::string> visible = env(contract::kVisibleDevicesEnv)) {
    uuids = SplitList(*visible);
    // "all", "none", "void" or indices: CUDA ordinals are the only mapping there is.
    bool all_uuids = !uuids.empty();
    for (const std::string& item : uuids) all_uuids = all_uuids && IsGpuUuid(item);
    if (!all_uuids) uuids.clear();
  }

  for (int i = 0;; ++i) {
    std::optional<std::string> memory = env(contract::MemoryLimitEnv(i));
    std::optional<std::string> compute = env(contract::ComputeLimitEnv(i));
    if (!memory && !compute) break;
    if (i >= contract::kMaxVisibleGpus) {
      return Status::InvalidArgument(
          contract::MemoryLimitEnv(i) + " or " + contract::ComputeLimitEnv(i) + ": at most " +
          std::to_string(contract::kMaxVisibleGpus) + " GPUs per container");
    }
    DeviceLimit& device = options.devices[i];
    device.memory_bytes = std::numeric_limits<uint64_t>::max();
    if (memory) {
      Result<uint64_t> bytes =
          ParseUnsigned(contract::MemoryLimitEnv(i), *memory, std::numeric_limits<int64_t>::max());
      if (!bytes.ok()) return bytes.status();
      device.memory_bytes = *bytes;
    }
    if (compute) {
      Result<uint64_t> percent =
          ParseUnsigned(contract::ComputeLimitEnv(i), *compute, kUnlimitedComputePercent);
      if (!percent.ok()) return percent.status();
      if (*percent == 0) {
        return Status::InvalidArgument(contract::ComputeLimitEnv(i) +
                                       "='0' is not a share: use 1 to 100");
      }
      device.compute_percent = static_cast<int>(*percent);
    }
    if (!uuids.empty()) {
      if (i >= static_cast<int>(uuids.size())) {
        return Status::InvalidArgument("limits are set for GPU " + std::to_string(i) + " but " +
                                       std::string(contract::kVisibleDevicesEnv) + " names " +
                                       std::to_string(uuids.size()));
      }
      device.uuid = uuids[i];
    }
    options.device_count = i + 1;
  }
  if (options.device_count == 0) return options;

  options.enforce = true;
  if (std::optional<std::string> region = env(contract::kRegionEnv)) options.region_path = *region;
  return options;
}

Options FailClosedOptions() {
  Options options;
  options.enforce = true;
  options.device_count = contract::kMaxVisibleGpus;
  for (DeviceLimit& device : options.devices) device.memory_bytes = 0;
  return options;
}

}  // namespace gpuslice::preload
