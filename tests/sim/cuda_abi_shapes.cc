// The shapes of gpuslice's own entry-point declarations, for cuda_abi_test.cc. Kept in its own
// translation unit because gpuslice's and NVIDIA's declarations cannot share one.
#include <map>
#include <string>

#include "core/abi/cuda.h"
#include "sim/abi_shape.h"

namespace gpuslice::testing {

std::map<std::string, std::string> GpusliceEntryPointShapes() {
  std::map<std::string, std::string> shapes;
#define GPUSLICE_CHECK_ENUMERATOR(e)
#define GPUSLICE_CHECK_RECORD(t)
#define GPUSLICE_CHECK_FIELD(t, f)
#define GPUSLICE_CHECK_ENTRY_POINT(f) \
  shapes[#f] = FunctionShape(static_cast<decltype(&::f)>(nullptr));
#include "cuda_abi_checks.inc"
  return shapes;
}

}  // namespace gpuslice::testing
