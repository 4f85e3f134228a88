#include "sim/spec.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <set>

#include "io/file.h"
#include "sim/internal/spec_defaults.h"
#include "sim/models.h"

namespace gpuslice::sim {
namespace {

std::string_view Trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
    text.remove_prefix(1);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  return text;
}

bool EndsWith(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

constexpr uint64_t kMaxKernelDurationNs = 10'000'000'000ULL;  // 10 s
constexpr uint32_t kMaxLaunchQueueDepth = 1 << 16;
constexpr uint64_t kMaxKernelLocalMemoryBytes = uint64_t{512} << 10;

}  // namespace

Result<SimSpec> ParseSpec(std::string_view text) {
  const std::string_view trimmed = Trim(text);
  if (trimmed.find('/') == std::string_view::npos && !EndsWith(trimmed, ".yaml") &&
      !EndsWith(trimmed, ".yml")) {
    return ParseSpecString(trimmed);
  }
  const std::string path(trimmed);
  Result<std::string> content = io::ReadFile(path);
  if (!content.ok()) return content.status().WithContext("spec file");
  return ParseSpecYaml(*content, path);
}

Result<SimSpec> ParseSpecString(std::string_view text) {
  const std::string context = "spec '" + std::string(text) + "'";
  if (Trim(text).empty()) {
    return Status::InvalidArgument(context + ": empty; expected e.g. '2xH100-80GB,1xT4'");
  }
  struct Item {
    const GpuModel* model;
    int count;
  };
  std::vector<Item> items;
  int total = 0;
  size_t start = 0;
  for (int position = 1;; ++position) {
    const size_t comma = text.find(',', start);
    const std::string_view raw = text.substr(start, comma - start);
    const std::string_view item = Trim(raw);
    const std::string where =
        context + ": item " + std::to_string(position) + " '" + std::string(item) + "'";
    if (item.empty()) return Status::InvalidArgument(where + ": empty item");
    int count = 1;
    std::string_view model_key = item;
    const size_t digits = item.find_first_not_of("0123456789");
    if (digits > 0 && digits != std::string_view::npos &&
        (item[digits] == 'x' || item[digits] == 'X')) {
      const auto [end, error] = std::from_chars(item.data(), item.data() + digits, count);
      if (error != std::errc() || end != item.data() + digits || count < 1 || count > kMaxGpus) {
        return Status::InvalidArgument(where + ": count '" + std::string(item.substr(0, digits)) +
                                       "' must be between 1 and " + std::to_string(kMaxGpus));
      }
      model_key = Trim(item.substr(digits + 1));
    }
    const GpuModel* model = FindModel(model_key);
    if (model == nullptr) {
      return Status::InvalidArgument(where + ": unknown GPU model '" + std::string(model_key) +
                                     "' (known: " + ModelKeyList() + ")");
    }
    total += count;
    if (total > kMaxGpus) {
      return Status::InvalidArgument(context + ": " + std::to_string(total) +
                                     " GPUs; a node holds at most " + std::to_string(kMaxGpus));
    }
    items.push_back({model, count});
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  SimSpec spec;
  const int numa_nodes = internal::DefaultNumaNodes(total);
  for (const Item& item : items) {
    for (int i = 0; i < item.count; ++i) {
      const int index = static_cast<int>(spec.gpus.size());
      spec.gpus.push_back(internal::GpuFromModel(*item.model, index, total, numa_nodes, ""));
    }
  }
  return spec;
}

Result<uint64_t> ParseDuration(std::string_view text) {
  const std::string_view trimmed = Trim(text);
  const size_t unit_start = trimmed.find_first_not_of("0123456789.");
  const std::string_view number = trimmed.substr(0, unit_start);
  const std::string_view unit =
      unit_start == std::string_view::npos ? std::string_view() : trimmed.substr(unit_start);
  double scale = 0;
  if (unit == "ns") {
    scale = 1;
  } else if (unit == "us" || unit == "\xC2\xB5s") {
    scale = 1e3;
  } else if (unit == "ms") {
    scale = 1e6;
  } else if (unit == "s") {
    scale = 1e9;
  } else {
    return Status::InvalidArgument("duration '" + std::string(text) +
                                   "': expected a number with a unit ns, us, ms or s, e.g. '2ms'");
  }
  double value = 0;
  const auto [end, error] = std::from_chars(number.data(), number.data() + number.size(), value);
  if (number.empty() || error != std::errc() || end != number.data() + number.size() ||
      !std::isfinite(value) || value * scale > 1e18) {
    return Status::InvalidArgument("duration '" + std::string(text) + "': '" + std::string(number) +
                                   "' is not a number in range");
  }
  return static_cast<uint64_t>(std::llround(value * scale));
}

std::string FormatDuration(uint64_t ns) {
  if (ns != 0 && ns % 1'000'000'000 == 0) return std::to_string(ns / 1'000'000'000) + "s";
  if (ns != 0 && ns % 1'000'000 == 0) return std::to_string(ns / 1'000'000) + "ms";
  if (ns != 0 && ns % 1'000 == 0) return std::to_string(ns / 1'000) + "us";
  return std::to_string(ns) + "ns";
}

Status ValidateSpec(const SimSpec& spec) {
  if (spec.gpus.empty()) return Status::InvalidArgument("spec has no GPUs");
  if (spec.gpus.size() > static_cast<size_t>(kMaxGpus)) {
    return Status::InvalidArgument("spec has " + std::to_string(spec.gpus.size()) +
                                   " GPUs; a node holds at most " + std::to_string(kMaxGpus));
  }
  if (spec.driver_version.empty() || spec.driver_version.size() >= 32) {
    return Status::InvalidArgument("driverVersion '" + spec.driver_version +
                                   "' must be 1 to 31 characters");
  }
  if (spec.cuda_version < 1000 || spec.cuda_version > 99990 || spec.cuda_version % 10 != 0) {
    return Status::InvalidArgument("cudaVersion " + std::to_string(spec.cuda_version) +
                                   " is not a CUDA version");
  }
  std::set<std::string> uuids, bus_ids;
  std::set<int> minors;
  for (size_t i = 0; i < spec.gpus.size(); ++i) {
    const GpuSpec& gpu = spec.gpus[i];
    const std::string where = "gpu " + std::to_string(i) + " (" + gpu.model + ")";
    auto invalid = [&](std::string_view field, const std::string& value, std::string_view why) {
      return Status::InvalidArgument(where + ": " + std::string(field) + " '" + value + "' " +
                                     std::string(why));
    };
    if (gpu.name.empty() || gpu.name.size() >= 96) {
      return invalid("name", gpu.name, "must be 1 to 95 characters");
    }
    if (!internal::IsValidUuid(gpu.uuid)) {
      return invalid(
          "uuid", gpu.uuid,
          "is not of the form GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx (lower-case hex)");
    }
    if (!uuids.insert(gpu.uuid).second) return invalid("uuid", gpu.uuid, "is used twice");
    if (gpu.memory_bytes < (1ULL << 20) || gpu.memory_bytes > (1ULL << 42)) {
      return invalid("memory", std::to_string(gpu.memory_bytes), "must be between 1Mi and 4Ti");
    }
    if (gpu.minor < 0 || gpu.minor > 255) {
      return invalid("minor", std::to_string(gpu.minor), "must be between 0 and 255");
    }
    if (!minors.insert(gpu.minor).second) {
      return invalid("minor", std::to_string(gpu.minor), "is used twice");
    }
    const std::optional<std::string> bus_id = internal::NormalizePciBusId(gpu.pci_bus_id);
    if (!bus_id || *bus_id != gpu.pci_bus_id) {
      return invalid("pciBusId", gpu.pci_bus_id, "is not of the form 00000000:18:00.0");
    }
    if (!bus_ids.insert(gpu.pci_bus_id).second) {
      return invalid("pciBusId", gpu.pci_bus_id, "is used twice");
    }
    if (gpu.numa_node < -1 || gpu.numa_node > 63) {
      return invalid("numaNode", std::to_string(gpu.numa_node), "must be between -1 and 63");
    }
    if (gpu.kernel_duration_ns == 0 || gpu.kernel_duration_ns > kMaxKernelDurationNs) {
      return invalid("kernelDuration", FormatDuration(gpu.kernel_duration_ns),
                     "must be more than 0 and at most 10s");
    }
    if (gpu.context_memory_bytes >= gpu.memory_bytes) {
      return invalid("contextMemory", std::to_string(gpu.context_memory_bytes),
                     "must be less than the GPU's memory");
    }
    if (gpu.module_memory_bytes >= gpu.memory_bytes) {
      return invalid("moduleMemory", std::to_string(gpu.module_memory_bytes),
                     "must be less than the GPU's memory");
    }
    if (gpu.kernel_local_memory_bytes > kMaxKernelLocalMemoryBytes) {
      return invalid("kernelLocalMemory", std::to_string(gpu.kernel_local_memory_bytes),
                     "must be at most 512Ki (what a thread may address)");
    }
    if (gpu.launch_queue_depth == 0 || gpu.launch_queue_depth > kMaxLaunchQueueDepth) {
      return invalid("launchQueueDepth", std::to_string(gpu.launch_queue_depth),
                     "must be between 1 and 65536");
    }
  }
  return Status::Ok();
}

}  // namespace gpuslice::sim
