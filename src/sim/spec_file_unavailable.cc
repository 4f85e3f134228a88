// ParseSpecYaml for the simulated driver libraries. They are injected into containers whose
// images hold nothing but glibc, so they carry no YAML library: a spec file is read by the
// gpuslice CLI or the device plugin, which create the state file the libraries then open.
#include "sim/spec.h"

namespace gpuslice::sim {

Result<SimSpec> ParseSpecYaml(std::string_view, std::string_view source) {
  return Status::FailedPrecondition(
      "spec file '" + std::string(source) +
      "': the simulated driver libraries read spec strings only (e.g. '2xH100-80GB'); create "
      "the state file from the spec file first: gpuslice sim create --spec " +
      std::string(source) + " --state STATE");
}

}  // namespace gpuslice::sim
