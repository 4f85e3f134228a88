// cuDeviceGetAttribute for a simulated GPU: what the real board of its model reports.
#pragma once

#include "core/abi/cuda.h"
#include "sim/spec.h"

namespace gpuslice::sim::cuda {

// CUDA_ERROR_INVALID_VALUE for an attribute the CUDA 13 driver does not define; attributes it
// defines that the simulation has no value for read 0, as on hardware without the feature.
CUresult DeviceAttribute(const GpuSpec& gpu, CUdevice_attribute attribute, int* value);

// Resident blocks of `threads` threads (and `shared_bytes` of shared memory each) one SM of
// `gpu` can hold.
int MaxActiveBlocksPerSm(const GpuSpec& gpu, int threads, size_t shared_bytes);

}  // namespace gpuslice::sim::cuda
