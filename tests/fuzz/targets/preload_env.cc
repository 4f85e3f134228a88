// libgpuslice's environment parsing through its public API only (preload/options.h), so the
// target keeps working while the parsing rules change.
#include <string>

#include "check.h"
#include "preload/options.h"
#include "targets.h"

namespace gpuslice::fuzz {

// The input is an environment block as /proc/<pid>/environ holds it: "NAME=value\0...".
int PreloadEnv(const uint8_t* data, size_t size) {
  const preload::EnvLookup env =
      preload::EnvironBlockLookup(std::string(reinterpret_cast<const char*>(data), size));
  (void)preload::HasGpusliceVariables(env);
  Result<preload::Options> options = preload::ParseOptions(env);
  if (!options.ok()) {
    Expect(options.status().code() == StatusCode::kInvalidArgument,
           "environment errors are InvalidArgument: " + options.status().ToString());
    return 0;
  }
  Expect(options->device_count >= 0 && options->device_count <= core::contract::kMaxVisibleGpus,
         "at most kMaxVisibleGpus GPUs");
  for (int i = 0; i < options->device_count; ++i) {
    const int share = options->devices[i].compute_percent;
    Expect(share >= 1 && share <= 100, "compute shares are 1-100%");
  }
  return 0;
}

}  // namespace gpuslice::fuzz
