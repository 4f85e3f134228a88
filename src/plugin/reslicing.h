// When the config changes how a GPU is sliced (slice count, reserved memory, resource name)
// while containers still hold slices of it, the new slices would be advertised as free next
// to limits handed out under the old ones, and the GPU's memory would be promised twice. So a
// GPU keeps its current slicing until its last container is gone; this decides which GPUs.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/gpu.h"
#include "core/slicing.h"
#include "plugin/inventory.h"
#include "plugin/region_store.h"

namespace gpuslice::plugin {

// Whether two profiles split a GPU the same way (the part of a profile containers' limits
// depend on).
bool SameSlicing(const core::SlicingProfile& a, const core::SlicingProfile& b);

// The GPUs of `live_gpus` with containers on them.
std::set<std::string> GpusOf(const std::vector<LiveAllocation>& live);

// For each GPU that has live containers (`live_gpus`) and whose slicing under the new config
// (`assigned`, parallel to `gpus`) differs from its slicing now, the profile to keep until the
// GPU is free. Its slicing now is the one `current` advertises, or, when the plugin has just
// started (`current` null), the newest record of an allocation on it. The kept profile takes
// the new profile's other settings (compute enforcement, injection).
std::map<std::string, core::SlicingProfile> ProfilesToKeep(
    const std::vector<core::GpuInfo>& gpus, const std::vector<const core::SlicingProfile*>& assigned,
    const Inventory* current, const std::vector<AllocationRecord>& records,
    const std::set<std::string>& live_gpus);

}  // namespace gpuslice::plugin
