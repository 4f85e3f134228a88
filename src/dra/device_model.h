// What the DRA driver publishes: one device per GPU, with its attributes and the consumable
// capacities `memory` (bytes) and `compute` (percent) that kube-scheduler books claims
// against, in one ResourceSlice per node (resource.k8s.io/v1). Pure: JSON in memory, no I/O.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/gpu.h"

namespace gpuslice::dra {

inline constexpr std::string_view kDriverName = "gpu.gpuslice.io";
// The taint an unhealthy GPU carries: the scheduler puts no new claim on it; claims already
// running there keep running (NoSchedule, not NoExecute).
inline constexpr std::string_view kUnhealthyTaintKey = "gpu.gpuslice.io/unhealthy";

// One GPU as the driver publishes it.
struct PublishedGpu {
  core::GpuInfo gpu;
  uint64_t reserved_memory_bytes = 0;  // from the GPU's slicing profile
  std::string unhealthy_reason;        // empty when healthy ("XID 79")
};

// The node's facts every device carries.
struct NodeFacts {
  std::string node_name;  // also the pool's name
  std::string node_uid;   // for the slice's owner reference; empty: no owner reference
  std::string driver_version;
  int cuda_driver_version = 0;  // 13000 for CUDA 13.0
};

// "gpu-<index>": a DNS label, stable while the GPU keeps its index.
std::string DeviceName(const core::GpuInfo& gpu);

// The architecture of a compute capability ("hopper" for 9.0), or "" when unknown.
std::string ModelFamily(int compute_major, int compute_minor);

// A version attribute must be semver: "580.65.06" becomes "580.65.6", "535.104" "535.104.0".
// Returns "" when `text` has no leading number.
std::string SemverOf(std::string_view text);

// The memory a claim may consume on a GPU: its memory less the reserved part, and the largest
// amount the request policy allows (min + k*step, at most that). 0 when the GPU is too small
// for even the minimum.
uint64_t UsableMemory(const PublishedGpu& gpu);
uint64_t MaxClaimMemory(const PublishedGpu& gpu, const core::DraConfig& dra);

// The resource.k8s.io/v1 Device of one GPU.
nlohmann::json BuildDevice(const PublishedGpu& gpu, const NodeFacts& node,
                           const core::DraConfig& dra);

// The node's ResourceSlice: name SliceName(node), pool = node name, the given pool generation,
// one device per GPU that has room for a claim. Owned by the Node when its UID is known, so
// deleting the node deletes the slice.
nlohmann::json BuildResourceSlice(const std::vector<PublishedGpu>& gpus, const NodeFacts& node,
                                  const core::DraConfig& dra, int64_t generation);

// "<node>-gpu.gpuslice.io", shortened with a hash of the node name when that would pass the
// 253 characters of an object name.
std::string SliceName(const std::string& node_name);

}  // namespace gpuslice::dra
