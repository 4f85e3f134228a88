// NVML handles and process lists of the container's slices, for the library's own
// measurements.
#pragma once

#include <optional>
#include <vector>

#include "core/abi/nvml.h"
#include "preload/options.h"

namespace gpuslice::preload::internal {

// Initializes NVML (once; never shut down, as other code in the process may use it) and
// returns the handle of slice `slice`'s GPU, found by UUID, or by index when the limits name
// no UUIDs. Returns nullptr when NVML is missing, the GPU is not found, or `slice` is not one
// of the limited GPUs (kUnlistedSlice stands for every GPU without a limit).
nvmlDevice_t NvmlHandleOfSlice(const Options& options, int slice);

// The processes NVML (unhooked) lists with compute work on slice `slice`'s GPU, with the memory
// each uses there; nullopt when NVML cannot say.
std::optional<std::vector<nvmlProcessInfo_t>> GpuProcesses(const Options& options, int slice);

}  // namespace gpuslice::preload::internal
