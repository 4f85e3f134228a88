// The one place where the library's own refusals become driver and NVML status codes. Every
// other status a hook returns is the driver's own.
#pragma once

#include "core/abi/cuda_types.h"
#include "core/abi/nvml.h"

namespace gpuslice::preload::internal {

enum class Refusal {
  kOverLimit,          // the allocation would take the container past its slice
  kMissingEntryPoint,  // the driver (or NVML) behind the hook cannot be loaded or lacks it
};

inline CUresult ToCuResult(Refusal refusal) {
  switch (refusal) {
    case Refusal::kOverLimit:
      return CUDA_ERROR_OUT_OF_MEMORY;
    case Refusal::kMissingEntryPoint:
      return CUDA_ERROR_NOT_FOUND;
  }
  return CUDA_ERROR_UNKNOWN;
}

inline nvmlReturn_t ToNvmlReturn(Refusal refusal) {
  switch (refusal) {
    case Refusal::kOverLimit:
      return NVML_ERROR_MEMORY;
    case Refusal::kMissingEntryPoint:
      return NVML_ERROR_FUNCTION_NOT_FOUND;
  }
  return NVML_ERROR_UNKNOWN;
}

}  // namespace gpuslice::preload::internal
