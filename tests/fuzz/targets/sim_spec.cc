#include "check.h"
#include "sim/spec.h"
#include "targets.h"

namespace gpuslice::fuzz {

// The first byte picks the form: even the spec string ("2xH100-80GB,1xT4"), odd a YAML spec.
int SimSpec(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  Result<sim::SimSpec> spec =
      data[0] % 2 == 0 ? sim::ParseSpecString(text) : sim::ParseSpecYaml(text, "spec.yaml");
  if (!spec.ok()) {
    Expect(spec.status().code() == StatusCode::kInvalidArgument,
           "spec errors are InvalidArgument: " + spec.status().ToString());
    return 0;
  }
  // A parsed spec is complete and valid: the state file is created from it as it is.
  const Status valid = sim::ValidateSpec(*spec);
  Expect(valid.ok(), "a parsed spec is valid: " + valid.ToString());
  Expect(!spec->gpus.empty() && spec->gpus.size() <= static_cast<size_t>(sim::kMaxGpus),
         "a spec has 1 to kMaxGpus GPUs");
  return 0;
}

}  // namespace gpuslice::fuzz
