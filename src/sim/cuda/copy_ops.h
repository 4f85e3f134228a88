// Copies and memsets on host-backed device memory, shared by the copy entry points and graph
// execution. Device ranges are checked against the memory map, so a copy past the end of an
// allocation fails like on the real driver instead of corrupting host memory.
#pragma once

#include <cstddef>

#include "core/abi/cuda.h"
#include "sim/cuda/driver.h"

namespace gpuslice::sim::cuda {

// A 3D copy between any combination of host, device, unified and array endpoints (2D copies
// are 3D copies one slice deep). CUDA_ERROR_INVALID_VALUE for ranges outside an endpoint.
CUresult Copy3D(Driver& driver, const CUDA_MEMCPY3D& copy);

// Fills `height` rows of `width` elements of `element_bytes` (1, 2 or 4), `pitch` bytes apart.
CUresult Memset2D(Driver& driver, CUdeviceptr destination, size_t pitch, unsigned int value,
                  unsigned int element_bytes, size_t width, size_t height);

// A linear copy as a 3D copy description (unified endpoints).
CUDA_MEMCPY3D LinearCopy(CUdeviceptr destination, CUdeviceptr source, size_t bytes);

}  // namespace gpuslice::sim::cuda
