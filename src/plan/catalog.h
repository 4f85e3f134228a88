// The instance-type catalog plan and render choose nodes from: GPUs, capacity, the allocatable
// resources Karpenter models for a new node, and on-demand prices. The built-in catalog (AWS
// us-east-1, NVIDIA types, prices of 2026-07-20) is compiled in; a CSV file with the same
// columns replaces it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace gpuslice::plan {

struct InstanceType {
  std::string name;               // "p3.8xlarge"
  std::string family;             // "p3"
  std::string arch;               // "amd64" | "arm64"
  int gpu_count = 0;              // physical GPUs (fractional-GPU types: 0)
  std::string gpu_model;          // catalog model, lower case: "v100", "a10g"
  uint64_t gpu_memory_bytes = 0;  // per GPU, as NVML reports it
  int vcpu = 0;
  uint64_t memory_bytes = 0;
  // What Karpenter models as allocatable on a new node of this type.
  int64_t allocatable_cpu_millis = 0;
  uint64_t allocatable_memory_bytes = 0;
  // The memory Karpenter counts against NodePool limits: its capacity, which on AWS is the
  // instance's memory less the VM overhead (VM_MEMORY_OVERHEAD_PERCENT).
  uint64_t capacity_memory_bytes = 0;
  int max_pods = 0;
  int karpenter_gpus = 0;                // nvidia.com/gpu capacity as Karpenter counts it
  std::optional<double> price_per_hour;  // on-demand USD; unset: not launchable on demand
  std::string notes;
};

struct Catalog {
  std::string source;      // "built-in" or the file it was read from
  std::string region;      // from the rows, e.g. "us-east-1"; "mixed" if rows disagree
  std::string price_date;  // "2026-07-20" for the built-in catalog; empty when unknown
  std::vector<InstanceType> types;

  // Returns the type named `name`, or nullptr.
  const InstanceType* Find(std::string_view name) const;
};

// Parses a catalog CSV. The header names the columns (any order, extra columns ignored):
// instance_type, family, arch, gpu_count, gpu_model, gpu_mem_mib_per_gpu, vcpu, mem_mib,
// karpenter_alloc_cpu_millis, karpenter_alloc_mem_mib, karpenter_max_pods,
// karpenter_nvidia_gpu, od_usd_per_hour, and optionally karpenter_capacity_mem_mib (default
// mem_mib), region and notes. Returns
// InvalidArgument naming `source`, the line, the column and the value on bad input.
Result<Catalog> ParseCatalog(std::string_view csv, std::string_view source);

// The built-in catalog. Thread-safe; parsed once.
const Catalog& BuiltinCatalog();

}  // namespace gpuslice::plan
