#include "kube/internal/yaml_emit.h"

namespace gpuslice::kube::internal {
namespace {

// yaml-cpp tags scalars read from quotes with the non-specific tag "!".
constexpr const char* kQuotedTag = "!";

void Emit(const YAML::Node& node, YAML::Emitter& out) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      out << YAML::BeginMap;
      for (const auto& entry : node) {
        out << YAML::Key;
        Emit(entry.first, out);
        out << YAML::Value;
        Emit(entry.second, out);
      }
      out << YAML::EndMap;
      break;
    case YAML::NodeType::Sequence:
      out << YAML::BeginSeq;
      for (const auto& element : node) Emit(element, out);
      out << YAML::EndSeq;
      break;
    case YAML::NodeType::Scalar:
      if (node.Tag() == kQuotedTag) out << YAML::DoubleQuoted;
      out << node.Scalar();
      break;
    default:
      out << YAML::Null;
      break;
  }
}

}  // namespace

YAML::Node QuotedScalar(const std::string& text) {
  YAML::Node node(text);
  node.SetTag(kQuotedTag);
  return node;
}

std::string EmitYaml(const YAML::Node& node) {
  YAML::Emitter out;
  Emit(node, out);
  return out.c_str();
}

}  // namespace gpuslice::kube::internal
