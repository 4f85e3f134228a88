// Typed, path-aware access to one field of a parsed YAML document. Every read validates the
// node's type and returns a Status naming the line, the field path and the value, so manifest
// readers never let yaml-cpp throw and never guess.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/quantity.h"
#include "core/status.h"
#include "kube/objects.h"

namespace gpuslice::kube::internal {

// A YAML node and the field path leading to it ("spec.template.spec.containers[0]").
// A Field may be absent (missing or null): reads of optional fields check present() first.
// `line_offset` is added to the node's marks: the line its document starts on in the file
// (documents are parsed one at a time); fields below it inherit it.
class Field {
 public:
  Field(const YAML::Node& node, std::string path, int fallback_line = 0, int line_offset = 0);

  // True when the field exists and is not null.
  bool present() const { return present_; }
  const YAML::Node& node() const { return node_; }
  const std::string& path() const { return path_; }
  // 1-based line of the node, or of the closest enclosing node when absent; 0 if unknown.
  int line() const { return line_; }

  // The member `key` of a mapping; absent when this field is absent or is not a mapping
  // (callers check ExpectMap() before descending).
  Field operator[](std::string_view key) const;
  // The element `index` of a sequence. REQUIRES: IsSequence() and index < size().
  Field At(size_t index) const;
  size_t size() const { return present_ && node_.IsSequence() ? node_.size() : 0; }

  // InvalidArgument "line N: <path>: <what>".
  Status Error(std::string_view what) const;

  // OK when absent or a mapping / a sequence; an error naming the actual type otherwise.
  Status ExpectMap() const;
  Status ExpectSequence() const;
  // An error when the field is absent.
  Status ExpectPresent() const;

  // Scalar reads. Each fails when the field is absent, is not a scalar, or does not parse.
  Result<std::string> String() const;
  Result<int64_t> Int(int64_t min, int64_t max) const;
  Result<core::Quantity> Quantity() const;

  // A mapping of scalars (labels, nodeSelector); empty when absent.
  Result<Labels> StringMap() const;
  // A sequence of scalars; empty when absent.
  Result<std::vector<std::string>> StringList() const;
  // A mapping of resource name -> non-negative quantity; empty when absent.
  Result<ResourceList> Resources() const;

  // Short description of the node for messages: the scalar text, or "a mapping" etc.
  std::string Describe() const;

 private:
  YAML::Node node_;
  std::string path_;
  int line_ = 0;
  int line_offset_ = 0;
  bool present_ = false;
};

// Appends `key` to `path` as a field name, bracketing keys such as "nvidia.com/gpu".
std::string JoinPath(std::string_view path, std::string_view key);

}  // namespace gpuslice::kube::internal
