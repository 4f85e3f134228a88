// The node's GPUs with the profile slicing each, and the slices every resource name
// advertises. Built once per discovery or config reload and then shared read-only.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/gpu.h"
#include "core/slicing.h"
#include "core/status.h"

namespace gpuslice::plugin {

struct SlicedGpu {
  core::GpuInfo gpu;
  core::SlicingProfile profile;  // a copy: the inventory outlives the config it came from
};

// A slice named by a device ID, resolved against the inventory.
struct SliceRef {
  size_t gpu = 0;  // position in Inventory::gpus()
  int slice = 0;
};

// Immutable after Build(); thread-safe to read.
class Inventory {
 public:
  // Assigns each GPU its profile, except the GPUs in `kept` (by UUID), which keep the profile
  // given there, and checks that every slice has memory and a valid device ID. Returns
  // InvalidArgument naming the GPU and profile when that fails (two profiles matching one GPU,
  // reserved memory leaving nothing to split, an ID too long for the kubelet).
  static Result<Inventory> Build(const core::Config& config, std::vector<core::GpuInfo> gpus,
                                 const std::map<std::string, core::SlicingProfile>& kept = {});

  const std::vector<SlicedGpu>& gpus() const { return gpus_; }

  // The distinct resource names, sorted.
  std::vector<std::string> ResourceNames() const;

  // Positions in gpus() of the GPUs advertised under `resource`, in GPU index order.
  std::vector<size_t> GpusOf(std::string_view resource) const;

  // Resolves a device ID advertised under `resource`. Returns NotFound naming the ID when it is
  // malformed, names an unknown GPU, a GPU of another resource, or a slice out of range.
  Result<SliceRef> Resolve(std::string_view resource, std::string_view device_id) const;

  // Position in gpus() of the GPU with `uuid`, or -1.
  int FindGpu(std::string_view uuid) const;

 private:
  std::vector<SlicedGpu> gpus_;
};

}  // namespace gpuslice::plugin
