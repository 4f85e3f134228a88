#include "kube/writer.h"

#include <yaml-cpp/yaml.h>

#include "core/yaml_load.h"
#include "kube/internal/yaml_emit.h"

namespace gpuslice::kube {
namespace {

YAML::Node TaintNode(const Taint& taint) {
  YAML::Node node;
  node["key"] = internal::QuotedScalar(taint.key);
  if (!taint.value.empty()) node["value"] = internal::QuotedScalar(taint.value);
  node["effect"] = internal::QuotedScalar(std::string(TaintEffectName(taint.effect)));
  return node;
}

void EmitRequirement(const NodeSelectorRequirement& requirement, YAML::Emitter& out) {
  out << YAML::BeginMap;
  out << YAML::Key << "key" << YAML::Value << requirement.key;
  out << YAML::Key << "operator" << YAML::Value
      << std::string(SelectorOperatorName(requirement.op));
  if (!requirement.values.empty()) {
    out << YAML::Key << "values" << YAML::Value << YAML::BeginSeq;
    for (const std::string& value : requirement.values) out << value;
    out << YAML::EndSeq;
  }
  out << YAML::EndMap;
}

}  // namespace

Result<std::string> NodePoolYamlWithTaint(const NodePool& pool, const Taint& taint) {
  try {
    Result<YAML::Node> loaded = core::LoadYaml(pool.document_yaml, pool.source.ToString());
    if (!loaded.ok()) return loaded.status();
    YAML::Node document = *loaded;
    YAML::Node taints = document["spec"]["template"]["spec"]["taints"];
    if (taints.IsDefined() && !taints.IsNull() && !taints.IsSequence()) {
      return Status::InvalidArgument(pool.source.ToString() +
                                     ": spec.template.spec.taints is not a list");
    }
    bool present = false;
    for (const Taint& existing : pool.taints) {
      present = present || (existing.key == taint.key && existing.effect == taint.effect);
    }
    if (!present) {
      if (!taints.IsSequence()) taints = YAML::Node(YAML::NodeType::Sequence);
      taints.push_back(TaintNode(taint));
      document["spec"]["template"]["spec"]["taints"] = taints;
    }
    return internal::EmitYaml(document) + "\n";
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(pool.source.ToString() + ": " + e.what());
  }
}

std::string NodeOverlayYaml(const NodeOverlay& overlay) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "apiVersion" << YAML::Value << "karpenter.sh/v1alpha1";
  out << YAML::Key << "kind" << YAML::Value << "NodeOverlay";
  out << YAML::Key << "metadata" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << overlay.name;
  if (!overlay.labels.empty()) {
    out << YAML::Key << "labels" << YAML::Value << YAML::BeginMap;
    for (const auto& [key, value] : overlay.labels) out << YAML::Key << key << YAML::Value << value;
    out << YAML::EndMap;
  }
  out << YAML::EndMap;
  out << YAML::Key << "spec" << YAML::Value << YAML::BeginMap;
  if (overlay.weight != 0) out << YAML::Key << "weight" << YAML::Value << overlay.weight;
  out << YAML::Key << "requirements" << YAML::Value << YAML::BeginSeq;
  for (const NodeSelectorRequirement& requirement : overlay.requirements) {
    EmitRequirement(requirement, out);
  }
  out << YAML::EndSeq;
  if (overlay.price)
    out << YAML::Key << "price" << YAML::Value << YAML::DoubleQuoted << *overlay.price;
  if (overlay.price_adjustment) {
    out << YAML::Key << "priceAdjustment" << YAML::Value << YAML::DoubleQuoted
        << *overlay.price_adjustment;
  }
  if (!overlay.capacity.empty()) {
    out << YAML::Key << "capacity" << YAML::Value << YAML::BeginMap;
    for (const auto& [name, quantity] : overlay.capacity) {
      out << YAML::Key << name << YAML::Value << YAML::DoubleQuoted << quantity.text();
    }
    out << YAML::EndMap;
  }
  out << YAML::EndMap;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace gpuslice::kube
