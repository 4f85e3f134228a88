// GetPreferredAllocation's choice: which of the available slices a container should get.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/status.h"
#include "plugin/inventory.h"

namespace gpuslice::plugin {

// Chooses `size` device IDs of `resource` from `available`, always including `must_include`.
// A request that one GPU can hold never straddles GPUs. Among GPUs that can hold it, kPacked
// picks the one with the most slices already in use (keeping whole GPUs free for large
// requests) and kSpread the least used one (fewer neighbours competing for compute); a request
// no single GPU can hold takes the GPUs with the most free slices first. Ties go to the lower
// GPU index, and slices within a GPU are taken in order, so the answer is deterministic.
// A GPU whose profile sets distinctGpus gives at most one slice to the answer (tensor-parallel
// pods need k devices), chosen among such GPUs by the policy alone. Available IDs this
// inventory does not know are left out. Returns the IDs sorted by GPU index and slice;
// NotFound naming unknown must-include IDs; InvalidArgument when the request is inconsistent;
// ResourceExhausted when too few are available (naming the distinctGpus profile when that is
// why).
Result<std::vector<std::string>> PreferAllocation(const Inventory& inventory,
                                                  std::string_view resource,
                                                  core::AllocationPolicy policy,
                                                  const std::vector<std::string>& available,
                                                  const std::vector<std::string>& must_include,
                                                  int size);

}  // namespace gpuslice::plugin
