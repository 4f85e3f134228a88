// Slicing profiles (which GPUs are split into how many equal slices, advertised under which
// resource name), the limits a container gets for k slices, and the device IDs that name
// slices to the kubelet.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/gpu.h"
#include "core/status.h"

namespace gpuslice::core {

inline constexpr std::string_view kDefaultResourceName = "nvidia.com/gpu";
inline constexpr int kMaxSlicesPerGpu = 64;

// Chooses GPUs by exactly one of: model name globs, NVML indices, or UUIDs.
struct GpuSelector {
  std::vector<std::string> models;  // globs, case-insensitive, on GpuInfo::name ("*A10G*")
  std::vector<int> indices;
  std::vector<std::string> uuids;

  bool empty() const { return models.empty() && indices.empty() && uuids.empty(); }
  bool Matches(const GpuInfo& gpu) const;
};

// How a container's processes get libgpuslice.so loaded.
enum class LibraryInjection {
  kPreloadFile,  // mount /etc/ld.so.preload: also covers processes that reset their environment
  kEnv,          // set LD_PRELOAD: for images whose /etc/ld.so.preload must stay their own
};

struct SlicingProfile {
  std::string name;  // empty only for the default profile
  GpuSelector match;
  int slices = 1;    // 1 = whole GPUs
  uint64_t reserved_memory_bytes = 0;  // kept back from every GPU before it is split
  std::string resource_name{kDefaultResourceName};
  bool enforce_compute = true;  // false: slices share compute freely (GPUSLICE_COMPUTE_LIMIT=100)
  LibraryInjection injection = LibraryInjection::kPreloadFile;
  // Whether GPUSLICE_DISABLE=1 in a container may switch enforcement off (for debugging). Off
  // by default: a pod spec can set any variable, so only the operator may allow it.
  bool allow_disable = false;
  // Whether the k slices of one container go to k different GPUs, one slice on each (tensor-
  // and pipeline-parallel serving needs that many devices). Off: slices of a container share a
  // GPU whenever one GPU can hold them.
  bool distinct_gpus = false;
};

// What a container holding `k` slices of one GPU may use on it.
struct SliceLimits {
  uint64_t memory_bytes = 0;
  int compute_percent = 100;  // 1-100; 100 means unthrottled
};

// REQUIRES: 1 <= k <= profile.slices.
// Memory is k equal shares of (gpu memory - reserved memory); compute is k*100/slices percent,
// or 100 when the profile does not enforce compute.
SliceLimits LimitsForSlices(const SlicingProfile& profile, uint64_t gpu_memory_bytes, int k);

// OK when `profile` leaves each slice of a GPU with `gpu_memory_bytes` some memory; otherwise
// InvalidArgument saying why: reservedMemory at or above the GPU's memory, or fewer bytes left
// than slices. The device plugin refuses such a GPU, so plan and render refuse such a profile.
Status CheckSliceMemory(const SlicingProfile& profile, uint64_t gpu_memory_bytes);

// Device IDs are "<GPU-UUID>::<k>": the GPU is always recoverable from the ID, which tools
// reading the kubelet's PodResources API rely on. The kubelet accepts at most 63 characters.
inline constexpr size_t kMaxDeviceIdLength = 63;

std::string MakeDeviceId(std::string_view gpu_uuid, int slice);

struct DeviceIdParts {
  std::string gpu_uuid;
  int slice = 0;
};

// Returns InvalidArgument naming `id` when it is not "<uuid>::<non-negative integer>".
Result<DeviceIdParts> ParseDeviceId(std::string_view id);

// Checks an extended resource name the way the kubelet's device manager does: "<domain>/<name>",
// the domain a DNS subdomain outside kubernetes.io, the name a qualified name of at most 63
// characters. Returns InvalidArgument saying what is wrong.
Status ValidateResourceName(std::string_view resource_name);

}  // namespace gpuslice::core
