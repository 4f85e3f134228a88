// Node label requirements with Karpenter's semantics: each key constrains a label to a set of
// values (In), a complement of one (NotIn, Exists), nothing (DoesNotExist) or an integer range
// (Gt, Lt, Gte, Lte). NodePools, NodeClaims, pods and instance types all speak this language;
// a pod fits a NodeClaim when their requirements are compatible and an instance type when they
// intersect. Value types; thread-compatible.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "kube/objects.h"

namespace gpuslice::plan {

class Requirement {
 public:
  // REQUIRES: `selector` passed kube's validation (values fit its operator).
  static Requirement FromSelector(const kube::NodeSelectorRequirement& selector);
  static Requirement In(std::vector<std::string> values);

  Requirement Intersection(const Requirement& other) const;
  bool Has(std::string_view value) const;
  // True when no value satisfies it: the label must be absent.
  bool Empty() const { return !complement_ && values_.empty(); }
  // The operator Karpenter reports for it: In, NotIn, Exists or DoesNotExist.
  kube::SelectorOperator Operator() const;
  std::string ToString(std::string_view key) const;

  friend bool operator==(const Requirement&, const Requirement&) = default;

 private:
  bool complement_ = false;          // values_ lists exclusions rather than allowed values
  std::vector<std::string> values_;  // sorted, unique
  std::optional<int64_t> greater_than_;
  std::optional<int64_t> less_than_;
};

class Requirements {
 public:
  Requirements() = default;
  static Requirements FromLabels(const kube::Labels& labels);
  static Requirements FromSelectors(const std::vector<kube::NodeSelectorRequirement>& selectors);

  // Narrows the requirement on `key` to its intersection with `requirement`.
  void Add(const std::string& key, const Requirement& requirement);
  void Add(const Requirements& other);
  const Requirement* Get(std::string_view key) const;

  // Karpenter's Compatible: OK when `incoming` can be added to these. A key only `incoming`
  // names must be a well-known label or be negative (NotIn, DoesNotExist); keys both name must
  // intersect. Otherwise InvalidArgument saying which label conflicts.
  Status Compatible(const Requirements& incoming) const;
  // True when every key both name has a value both allow (Karpenter's Intersects).
  bool Intersects(const Requirements& other) const;
  // The first key both name whose requirements do not intersect, or nullptr.
  const std::string* FirstConflict(const Requirements& other) const;

  bool empty() const { return entries_.empty(); }
  std::string ToString() const;
  friend bool operator==(const Requirements&, const Requirements&) = default;

 private:
  std::vector<std::pair<std::string, Requirement>> entries_;  // sorted by key
};

// Labels a cloud provider defines on every instance type (zone, instance type, architecture,
// karpenter.k8s.aws/*, ...): a pod may require them even where a NodePool does not.
bool IsWellKnownLabel(std::string_view key);

// Well-known label keys used by plan.
inline constexpr std::string_view kLabelInstanceType = "node.kubernetes.io/instance-type";
inline constexpr std::string_view kLabelNodePool = "karpenter.sh/nodepool";
inline constexpr std::string_view kLabelCapacityType = "karpenter.sh/capacity-type";

}  // namespace gpuslice::plan
