// libFuzzer's entry point for one target; GPUSLICE_FUZZ_TARGET names its function in targets.h.
#include "targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return gpuslice::fuzz::GPUSLICE_FUZZ_TARGET(data, size);
}
