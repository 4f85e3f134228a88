// How a spec's GPUs get the facts the spec leaves out: UUIDs, PCI bus IDs, minor numbers and
// NUMA nodes derived from the GPU's position, so the same spec always describes the same node.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "sim/models.h"
#include "sim/spec.h"

namespace gpuslice::sim::internal {

// The GPU at `index` of a node with `total` GPUs spread over `numa_nodes` NUMA nodes, with
// every fact taken from `model` or derived; `uuid_seed` varies the UUIDs between nodes.
GpuSpec GpuFromModel(const GpuModel& model, int index, int total, int numa_nodes,
                     std::string_view uuid_seed);

// NUMA nodes a node of `total` GPUs has by default: two from four GPUs on, like the
// dual-socket servers that carry them, else one.
int DefaultNumaNodes(int total);

// "GPU-" + 8-4-4-4-12 lower-case hex digits.
bool IsValidUuid(std::string_view uuid);

// Accepts "DDDDDDDD:BB:DD.F" or "DDDD:BB:DD.F" (hex, any case) and returns NVML's form
// "DDDDDDDD:BB:DD.F" in upper case; nullopt when malformed or out of range.
std::optional<std::string> NormalizePciBusId(std::string_view bus_id);

}  // namespace gpuslice::sim::internal
