// Per-container GPU metrics: what each container does with its slices, read from the
// accounting regions of its allocation directories and named by the kubelet's PodResources
// listing (namespace, pod, container). Rendered in the Prometheus text format beside the
// plugin's own metrics on /metrics; docs/observability.md lists the series.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/region.h"
#include "plugin/compute_usage.h"
#include "plugin/region_store.h"

namespace gpuslice::plugin {

// How long a /metrics scrape waits for the kubelet's PodResources listing, in both modes; past
// it the scrape renders without the per-container series rather than hang the scraper.
inline constexpr std::chrono::milliseconds kContainerMetricsListTimeout{1000};

inline constexpr const char* kMetricContainerMemoryUsed = "gpuslice_container_memory_used_bytes";
inline constexpr const char* kMetricContainerMemoryPeak = "gpuslice_container_memory_peak_bytes";
inline constexpr const char* kMetricContainerMemoryLimit = "gpuslice_container_memory_limit_bytes";
inline constexpr const char* kMetricContainerOomRefusals = "gpuslice_container_oom_refusals_total";
inline constexpr const char* kMetricContainerComputeShare =
    "gpuslice_container_compute_share_ratio";
inline constexpr const char* kMetricContainerComputeUsed = "gpuslice_container_compute_used_ratio";
inline constexpr const char* kMetricContainerThrottled =
    "gpuslice_container_throttled_seconds_total";

// One GPU of one container.
struct ContainerGpuUsage {
  std::string namespace_name;
  std::string pod;
  std::string container;
  std::string resource;
  std::string claim;  // the DRA claim's name; empty in device plugin mode
  std::string gpu_uuid;
  uint64_t memory_limit_bytes = 0;
  int compute_percent = 100;
  // False when the region cannot be read (a layout this build does not know, a file a process
  // of the container damaged): only the limit and the share are known then.
  bool usage_known = false;
  // False for a version-1 region, which keeps no peak, refusals or waits.
  bool counters_known = false;
  core::region::DeviceUsage usage;
  // The fraction of the GPU's time the container's processes kept it busy lately
  // (ComputeUsage); nullopt where unknown: no sampling, or a region before version 3, which
  // does not name its processes to NVML.
  std::optional<double> compute_used_ratio;
};

// Joins `records` (the region store's allocation directories) to `live` (the kubelet's
// listing): a directory belongs to the container whose allocation has the same resource and
// device IDs; where several directories match one allocation, the newest. For each GPU of its
// limits file, reads the region (an empty region, not yet laid out, reads as all zero).
// Directories the kubelet does not list, or whose limits file is unreadable, give no series.
// Reads files only with read/pread, so a region a container truncates meanwhile yields an
// unknown usage, never a fault. With `compute`, each GPU's compute used is that of the processes
// the region names. Thread-safe.
std::vector<ContainerGpuUsage> CollectContainerUsage(const std::vector<AllocationRecord>& records,
                                                     const std::vector<LiveAllocation>& live,
                                                     const ComputeUsage* compute = nullptr);

// The Prometheus text (format 0.0.4) of `usage`: every family's HELP and TYPE, then one series
// per container GPU labelled namespace, pod, container, gpu (UUID) and resource, and claim where
// the GPU came with a DRA claim.
std::string RenderContainerMetrics(const std::vector<ContainerGpuUsage>& usage);

}  // namespace gpuslice::plugin
