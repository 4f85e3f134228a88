// Names and descriptions of CUresult codes (cuGetErrorName / cuGetErrorString).
#pragma once

#include "core/abi/cuda.h"

namespace gpuslice::sim::cuda {

// nullptr for a code the driver does not define.
const char* ErrorName(CUresult code);
const char* ErrorDescription(CUresult code);

}  // namespace gpuslice::sim::cuda
