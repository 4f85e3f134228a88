// Writing parsed YAML back without changing what it means: yaml-cpp's own emitter drops the
// quotes of scalars, turning the string "true" into a boolean.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>

namespace gpuslice::kube::internal {

// A scalar node written back in quotes.
YAML::Node QuotedScalar(const std::string& text);

// Block-style YAML for `node`; scalars that were quoted in the source stay quoted.
std::string EmitYaml(const YAML::Node& node);

}  // namespace gpuslice::kube::internal
