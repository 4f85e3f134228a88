#include "plan/requirements.h"

#include <algorithm>
#include <charconv>

namespace gpuslice::plan {
namespace {

std::optional<int64_t> ParseInt(std::string_view text) {
  int64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

// Karpenter's withinIntPtrs: with bounds set, only integers strictly inside them qualify.
bool WithinBounds(std::string_view value, const std::optional<int64_t>& greater_than,
                  const std::optional<int64_t>& less_than) {
  if (!greater_than && !less_than) return true;
  const std::optional<int64_t> number = ParseInt(value);
  if (!number) return false;
  if (greater_than && *number <= *greater_than) return false;
  if (less_than && *number >= *less_than) return false;
  return true;
}

std::vector<std::string> Sorted(std::vector<std::string> values) {
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  return values;
}

bool Negative(kube::SelectorOperator op) {
  return op == kube::SelectorOperator::kNotIn || op == kube::SelectorOperator::kDoesNotExist;
}

}  // namespace

Requirement Requirement::FromSelector(const kube::NodeSelectorRequirement& selector) {
  Requirement r;
  const auto bound = [&]() -> int64_t {
    return selector.values.empty() ? 0 : ParseInt(selector.values[0]).value_or(0);
  };
  switch (selector.op) {
    case kube::SelectorOperator::kIn:
      r.values_ = Sorted(selector.values);
      break;
    case kube::SelectorOperator::kNotIn:
      r.complement_ = true;
      r.values_ = Sorted(selector.values);
      break;
    case kube::SelectorOperator::kExists:
      r.complement_ = true;
      break;
    case kube::SelectorOperator::kDoesNotExist:
      break;
    case kube::SelectorOperator::kGt:
      r.complement_ = true;
      r.greater_than_ = bound();
      break;
    case kube::SelectorOperator::kGte:
      r.complement_ = true;
      r.greater_than_ = bound() - 1;
      break;
    case kube::SelectorOperator::kLt:
      r.complement_ = true;
      r.less_than_ = bound();
      break;
    case kube::SelectorOperator::kLte:
      r.complement_ = true;
      r.less_than_ = bound() + 1;
      break;
  }
  return r;
}

Requirement Requirement::In(std::vector<std::string> values) {
  Requirement r;
  r.values_ = Sorted(std::move(values));
  return r;
}

Requirement Requirement::Intersection(const Requirement& other) const {
  Requirement out;
  out.complement_ = complement_ && other.complement_;
  out.greater_than_ = greater_than_;
  if (other.greater_than_ && (!out.greater_than_ || *other.greater_than_ > *out.greater_than_)) {
    out.greater_than_ = other.greater_than_;
  }
  out.less_than_ = less_than_;
  if (other.less_than_ && (!out.less_than_ || *other.less_than_ < *out.less_than_)) {
    out.less_than_ = other.less_than_;
  }
  if (out.greater_than_ && out.less_than_ && *out.greater_than_ >= *out.less_than_) {
    return Requirement();  // DoesNotExist, as Karpenter does
  }
  std::vector<std::string>& values = out.values_;
  if (complement_ && other.complement_) {
    std::set_union(values_.begin(), values_.end(), other.values_.begin(), other.values_.end(),
                   std::back_inserter(values));
  } else if (complement_) {
    std::set_difference(other.values_.begin(), other.values_.end(), values_.begin(), values_.end(),
                        std::back_inserter(values));
  } else if (other.complement_) {
    std::set_difference(values_.begin(), values_.end(), other.values_.begin(), other.values_.end(),
                        std::back_inserter(values));
  } else {
    std::set_intersection(values_.begin(), values_.end(), other.values_.begin(),
                          other.values_.end(), std::back_inserter(values));
  }
  std::erase_if(values, [&](const std::string& v) {
    return !WithinBounds(v, out.greater_than_, out.less_than_);
  });
  if (!out.complement_) {
    out.greater_than_.reset();
    out.less_than_.reset();
  }
  return out;
}

bool Requirement::Has(std::string_view value) const {
  const bool listed = std::binary_search(values_.begin(), values_.end(), value);
  return (complement_ ? !listed : listed) && WithinBounds(value, greater_than_, less_than_);
}

kube::SelectorOperator Requirement::Operator() const {
  if (complement_) {
    return values_.empty() ? kube::SelectorOperator::kExists : kube::SelectorOperator::kNotIn;
  }
  return values_.empty() ? kube::SelectorOperator::kDoesNotExist : kube::SelectorOperator::kIn;
}

std::string Requirement::ToString(std::string_view key) const {
  std::string out(key);
  out += " ";
  out += kube::SelectorOperatorName(Operator());
  if (!values_.empty()) {
    out += " [";
    for (size_t i = 0; i < values_.size(); ++i) out += (i ? ", " : "") + values_[i];
    out += "]";
  }
  if (greater_than_) out += " >" + std::to_string(*greater_than_);
  if (less_than_) out += " <" + std::to_string(*less_than_);
  return out;
}

Requirements Requirements::FromLabels(const kube::Labels& labels) {
  Requirements out;
  for (const auto& [key, value] : labels) out.Add(key, Requirement::In({value}));
  return out;
}

Requirements Requirements::FromSelectors(
    const std::vector<kube::NodeSelectorRequirement>& selectors) {
  Requirements out;
  for (const kube::NodeSelectorRequirement& s : selectors) {
    out.Add(s.key, Requirement::FromSelector(s));
  }
  return out;
}

void Requirements::Add(const std::string& key, const Requirement& requirement) {
  auto it =
      std::lower_bound(entries_.begin(), entries_.end(), key,
                       [](const auto& entry, const std::string& k) { return entry.first < k; });
  if (it != entries_.end() && it->first == key) {
    it->second = it->second.Intersection(requirement);
  } else {
    entries_.insert(it, {key, requirement});
  }
}

void Requirements::Add(const Requirements& other) {
  for (const auto& [key, requirement] : other.entries_) Add(key, requirement);
}

const Requirement* Requirements::Get(std::string_view key) const {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), key,
                             [](const auto& entry, std::string_view k) { return entry.first < k; });
  return it != entries_.end() && it->first == key ? &it->second : nullptr;
}

const std::string* Requirements::FirstConflict(const Requirements& other) const {
  for (const auto& [key, incoming] : other.entries_) {
    const Requirement* existing = Get(key);
    if (existing == nullptr || !existing->Intersection(incoming).Empty()) continue;
    // Two negative requirements never conflict: the label can still be absent.
    if (Negative(incoming.Operator()) && Negative(existing->Operator())) continue;
    return &key;
  }
  return nullptr;
}

bool Requirements::Intersects(const Requirements& other) const {
  return FirstConflict(other) == nullptr;
}

Status Requirements::Compatible(const Requirements& incoming) const {
  for (const auto& [key, requirement] : incoming.entries_) {
    if (Get(key) != nullptr || Negative(requirement.Operator()) || IsWellKnownLabel(key)) continue;
    return Status::InvalidArgument("label " + key + " is not set on the nodes (" +
                                   requirement.ToString(key) + ")");
  }
  if (const std::string* key = FirstConflict(incoming)) {
    return Status::InvalidArgument("requirement " + incoming.Get(*key)->ToString(*key) +
                                   " conflicts with " + Get(*key)->ToString(*key));
  }
  return Status::Ok();
}

std::string Requirements::ToString() const {
  std::string out;
  for (const auto& [key, requirement] : entries_) {
    if (!out.empty()) out += ", ";
    out += requirement.ToString(key);
  }
  return out;
}

bool IsWellKnownLabel(std::string_view key) {
  static constexpr std::string_view kWellKnown[] = {
      "topology.kubernetes.io/zone",
      "topology.kubernetes.io/region",
      kLabelInstanceType,
      "kubernetes.io/arch",
      "kubernetes.io/os",
      "node.kubernetes.io/windows-build",
      kLabelCapacityType,
      kLabelNodePool,
      "topology.k8s.aws/zone-id",
  };
  return key.starts_with("karpenter.k8s.aws/") ||
         std::find(std::begin(kWellKnown), std::end(kWellKnown), key) != std::end(kWellKnown);
}

}  // namespace gpuslice::plan
