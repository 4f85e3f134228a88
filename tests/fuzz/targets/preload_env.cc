// libgpuslice's environment parsing through its public API only (preload/options.h), so the
// target keeps working while the parsing rules change.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "check.h"
#include "preload/options.h"
#include "targets.h"

namespace gpuslice::fuzz {

// The input is an environment block as /proc/<pid>/environ holds it ("NAME=value\0..."),
// then, after a \x01 byte where there is one, the container's limits file: the two inputs
// ParseOptions decides from.
int PreloadEnv(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t separator = input.find('\x01');
  const std::string_view environ = input.substr(0, separator);
  std::optional<std::string_view> limits_file;
  if (separator != std::string_view::npos) limits_file = input.substr(separator + 1);
  (void)preload::HasGpusliceVariables(environ);
  std::vector<std::string> warnings;
  Result<preload::Options> options = preload::ParseOptions(environ, limits_file, &warnings);
  if (!options.ok()) {
    Expect(options.status().code() == StatusCode::kInvalidArgument,
           "environment and limits file errors are InvalidArgument: " + options.status().ToString());
    return 0;
  }
  Expect(options->device_count >= 0 && options->device_count <= core::contract::kMaxAllocatedGpus,
         "at most kMaxAllocatedGpus GPUs have limits of their own");
  for (int i = 0; i < options->device_count; ++i) {
    const int share = options->devices[i].compute_percent;
    Expect(share >= 1 && share <= 100, "compute shares are 1-100%");
  }
  if (limits_file.has_value() && options->enforce) {
    Expect(options->source != "the environment", "a limits file, when present, decides");
  }
  return 0;
}

}  // namespace gpuslice::fuzz
