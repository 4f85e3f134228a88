#include "plugin/container_metrics.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>

#include <fmt/format.h>

#include "core/contract.h"
#include "core/file_descriptor.h"
#include "io/file.h"
#include "plugin/metrics.h"

namespace gpuslice::plugin {
namespace {

namespace region = core::region;

using core::FileDescriptor;

bool ReadAt(int fd, void* buffer, size_t size, size_t offset) {
  size_t done = 0;
  while (done < size) {
    const ssize_t n = pread(fd, static_cast<char*>(buffer) + done, size - done,
                            static_cast<off_t>(offset + done));
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// The parts of a region DeviceUsage needs, copied out of the file.
struct RegionCopy {
  bool empty = false;  // not laid out yet: no process of the container has used a GPU
  uint32_t version = 0;
  std::vector<unsigned char> devices = std::vector<unsigned char>(region::kDevicesEnd);
  std::vector<unsigned char> counters;
  // From version 3: the PIDs NVML knows the container's processes by.
  std::optional<std::vector<uint32_t>> nvml_pids;
};

std::optional<RegionCopy> ReadRegion(const std::string& path) {
  FileDescriptor fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (fd.get() < 0) return std::nullopt;
  struct stat info {};
  if (fstat(fd.get(), &info) != 0 || !S_ISREG(info.st_mode)) return std::nullopt;
  RegionCopy copy;
  const auto size = static_cast<size_t>(info.st_size);
  if (size == 0) {
    copy.empty = true;
    return copy;
  }
  if (!ReadAt(fd.get(), copy.devices.data(), copy.devices.size(), 0)) return std::nullopt;
  Result<uint32_t> version = region::CheckReadable(copy.devices.data(), size);
  if (!version.ok()) return std::nullopt;
  copy.version = *version;
  if (copy.version >= 2) {
    copy.counters.resize(region::kCountersEnd - region::kCountersBegin);
    if (!ReadAt(fd.get(), copy.counters.data(), copy.counters.size(), region::kCountersBegin)) {
      return std::nullopt;
    }
  }
  if (copy.version >= 3) {
    std::vector<unsigned char> pids(region::kNvmlPidsEnd - region::kNvmlPidsBegin);
    if (!ReadAt(fd.get(), pids.data(), pids.size(), region::kNvmlPidsBegin)) return std::nullopt;
    copy.nvml_pids = region::ReadNvmlPids(pids.data());
  }
  return copy;
}

std::vector<std::string> Sorted(std::vector<std::string> ids) {
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::string LabelsOf(const ContainerGpuUsage& gpu) {
  std::string labels = "{namespace=\"";
  AppendEscapedLabelValue(labels, gpu.namespace_name);
  labels += "\",pod=\"";
  AppendEscapedLabelValue(labels, gpu.pod);
  labels += "\",container=\"";
  AppendEscapedLabelValue(labels, gpu.container);
  labels += "\",gpu=\"";
  AppendEscapedLabelValue(labels, gpu.gpu_uuid);
  labels += "\",resource=\"";
  AppendEscapedLabelValue(labels, gpu.resource);
  if (!gpu.claim.empty()) {
    labels += "\",claim=\"";
    AppendEscapedLabelValue(labels, gpu.claim);
  }
  labels += "\"}";
  return labels;
}

struct Family {
  const char* name;
  const char* type;
  const char* help;
  // The series' value; nullopt leaves the GPU out of the family.
  std::optional<double> (*value)(const ContainerGpuUsage&);
};

constexpr Family kFamilies[] = {
    {kMetricContainerMemoryUsed, "gauge",
     "Device memory the container's processes hold on the GPU, as its slice counts it.",
     [](const ContainerGpuUsage& g) -> std::optional<double> {
       if (!g.usage_known) return std::nullopt;
       return static_cast<double>(g.usage.used_bytes);
     }},
    {kMetricContainerMemoryPeak, "gauge",
     "Highest device memory the container held on the GPU since its slice was set up.",
     [](const ContainerGpuUsage& g) -> std::optional<double> {
       if (!g.counters_known) return std::nullopt;
       return static_cast<double>(g.usage.peak_bytes);
     }},
    {kMetricContainerMemoryLimit, "gauge", "The container's memory limit on the GPU.",
     [](const ContainerGpuUsage& g) -> std::optional<double> {
       return static_cast<double>(g.memory_limit_bytes);
     }},
    {kMetricContainerOomRefusals, "counter",
     "Allocations refused because they would have passed the container's memory limit.",
     [](const ContainerGpuUsage& g) -> std::optional<double> {
       if (!g.counters_known) return std::nullopt;
       return static_cast<double>(g.usage.refused_allocations);
     }},
    {kMetricContainerComputeShare, "gauge",
     "The container's compute share of the GPU (1 = not throttled).",
     [](const ContainerGpuUsage& g) -> std::optional<double> {
       return g.compute_percent / 100.0;
     }},
    {kMetricContainerComputeUsed, "gauge",
     "The fraction of the GPU's time the container's processes kept its SMs busy over the last "
     "10 s, from the driver's per-process utilization.",
     [](const ContainerGpuUsage& g) { return g.compute_used_ratio; }},
    {kMetricContainerThrottled, "counter",
     "Time the container's kernel launches waited at the compute gate.",
     [](const ContainerGpuUsage& g) -> std::optional<double> {
       if (!g.counters_known) return std::nullopt;
       return static_cast<double>(g.usage.throttled_ns) / 1e9;
     }},
};

}  // namespace

std::vector<ContainerGpuUsage> CollectContainerUsage(const std::vector<AllocationRecord>& records,
                                                     const std::vector<LiveAllocation>& live,
                                                     const ComputeUsage* compute) {
  // The newest directory of each (resource, devices): records come oldest first.
  std::map<std::pair<std::string, std::vector<std::string>>, const AllocationRecord*> newest;
  for (const AllocationRecord& record : records) {
    newest[{record.resource, Sorted(record.device_ids)}] = &record;
  }
  std::vector<ContainerGpuUsage> usage;
  for (const LiveAllocation& allocation : live) {
    auto found = newest.find({allocation.resource, Sorted(allocation.device_ids)});
    if (found == newest.end()) continue;
    const std::filesystem::path directory(found->second->directory);
    Result<std::string> text =
        io::ReadFile((directory / kLimitsDirName / core::contract::kLimitsFileName).string(),
                     core::contract::kMaxLimitsFileBytes);
    if (!text.ok()) continue;
    Result<core::contract::LimitsFile> limits = core::contract::ParseLimitsFile(*text);
    if (!limits.ok()) continue;
    const std::optional<RegionCopy> copy =
        ReadRegion((directory / core::contract::kRegionFileName).string());
    for (size_t i = 0; i < limits->gpus.size() && i < region::kMaxDevices; ++i) {
      ContainerGpuUsage gpu;
      gpu.namespace_name = allocation.namespace_name;
      gpu.pod = allocation.pod;
      gpu.container = allocation.container;
      gpu.resource = allocation.resource;
      gpu.claim = allocation.claim;
      gpu.gpu_uuid = limits->gpus[i].uuid;
      gpu.memory_limit_bytes = limits->gpus[i].memory_bytes;
      gpu.compute_percent = limits->gpus[i].compute_percent;
      if (copy.has_value()) {
        gpu.usage_known = true;
        gpu.counters_known = copy->empty || copy->version >= 2;
        if (!copy->empty) {
          gpu.usage = region::ReadDeviceUsage(
              copy->devices.data(), copy->counters.empty() ? nullptr : copy->counters.data(),
              static_cast<int>(i));
        }
        // A region not laid out yet names no process: none of its container has used the GPU.
        if (compute != nullptr && (copy->empty || copy->nvml_pids.has_value())) {
          gpu.compute_used_ratio =
              compute->UsedRatio(gpu.gpu_uuid, copy->nvml_pids.value_or(std::vector<uint32_t>{}));
        }
      }
      usage.push_back(std::move(gpu));
    }
  }
  return usage;
}

std::string RenderContainerMetrics(const std::vector<ContainerGpuUsage>& usage) {
  std::vector<std::string> labels;
  labels.reserve(usage.size());
  for (const ContainerGpuUsage& gpu : usage) labels.push_back(LabelsOf(gpu));
  std::string out;
  out.reserve(256 * (1 + usage.size()) * std::size(kFamilies));
  for (const Family& family : kFamilies) {
    fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", family.name,
                   family.help, family.name, family.type);
    for (size_t i = 0; i < usage.size(); ++i) {
      const std::optional<double> value = family.value(usage[i]);
      if (!value.has_value()) continue;
      fmt::format_to(std::back_inserter(out), "{}{} {}\n", family.name, labels[i], *value);
    }
  }
  return out;
}

}  // namespace gpuslice::plugin
