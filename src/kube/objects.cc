#include "kube/objects.h"

namespace gpuslice::kube {

std::string Source::ToString() const {
  std::string out = file.empty() ? "<input>" : file;
  if (document > 0) out += ": document " + std::to_string(document);
  if (!kind.empty()) {
    out += " (" + kind;
    if (!name.empty()) out += " " + name;
    out += ")";
  }
  return out;
}

std::string_view TaintEffectName(TaintEffect effect) {
  switch (effect) {
    case TaintEffect::kNoSchedule:
      return "NoSchedule";
    case TaintEffect::kPreferNoSchedule:
      return "PreferNoSchedule";
    case TaintEffect::kNoExecute:
      return "NoExecute";
  }
  return "NoSchedule";
}

std::string_view SelectorOperatorName(SelectorOperator op) {
  switch (op) {
    case SelectorOperator::kIn:
      return "In";
    case SelectorOperator::kNotIn:
      return "NotIn";
    case SelectorOperator::kExists:
      return "Exists";
    case SelectorOperator::kDoesNotExist:
      return "DoesNotExist";
    case SelectorOperator::kGt:
      return "Gt";
    case SelectorOperator::kLt:
      return "Lt";
    case SelectorOperator::kGte:
      return "Gte";
    case SelectorOperator::kLte:
      return "Lte";
  }
  return "In";
}

}  // namespace gpuslice::kube
