// The optimizer's view of a cluster model: the (NodePool, instance type) targets a node can be
// launched as, pods grouped into classes of equal requests and placement, and node patterns.
#pragma once

#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "plan/cluster_model.h"
#include "plan/provisioner.h"

namespace gpuslice::plan::internal {

// One (NodePool, instance type) a node can be launched as.
struct Target {
  int pool = 0;
  int option = 0;
  Amounts free;  // allocatable minus DaemonSet overhead
  double price = 0;
};

inline constexpr int kInfeasible = -1;
inline constexpr int kUnconstrained = 0;  // the pod adds nothing to the pool's requirements

// Pods with equal requests that fit the same targets with the same node requirements.
struct PodClass {
  std::vector<size_t> demands;
  Amounts requests;
  // Per target: kInfeasible, kUnconstrained, or an index into the residual requirements.
  std::vector<int> residual;
};

// How many pods of each class one node of one target holds.
struct Pattern {
  int target = 0;
  std::vector<std::pair<int, int>> counts;  // (class, pods), classes ascending
};

// How many pods with `request` fit in `free`, at most `cap`.
int64_t MaxFit(const Amounts& request, const Amounts& free, int64_t cap);
// `*free` -= `times` x `request`.
void SubtractTimes(Amounts* free, const Amounts& request, int64_t times);

class PackingProblem {
 public:
  // Targets are the launchable types whose nodes hold the DaemonSets, cost no more than
  // `upper_bound` (a plan already known) and are not dominated by a cheaper, larger type of the
  // same NodePool. Pods that fit no target are left out as unplaceable.
  PackingProblem(const ClusterModel& model, std::optional<double> upper_bound);

  const ClusterModel& model() const { return model_; }
  const std::vector<Target>& targets() const { return targets_; }
  const std::vector<PodClass>& classes() const { return classes_; }
  const std::vector<UnplacedPod>& unplaceable() const { return unplaceable_; }
  const InstanceOption& option(const Target& target) const {
    return model_.pools[target.pool].options[target.option];
  }
  const Requirements& pool_requirements(const Target& target) const {
    return model_.pools[target.pool].requirements;
  }

  // Adds a class's residual requirements to those of a node; false when they conflict.
  bool Join(int residual, Requirements* node) const;

 private:
  void BuildTargets(std::optional<double> upper_bound);
  void DropDominatedTargets();
  bool SameLabelsForPods(const Target& x, const Target& y) const;
  std::vector<int> Feasibility(const PodDemand& demand);
  int ResidualIndex(const Requirements& requirements);
  void BuildClasses();

  const ClusterModel& model_;
  std::vector<Target> targets_;
  std::vector<PodClass> classes_;
  std::vector<Requirements> residuals_;
  std::vector<UnplacedPod> unplaceable_;
};

// Distinct patterns, in the order they were added.
class PatternSet {
 public:
  // Returns false (and keeps the set) when an equal pattern is already in it.
  bool Add(Pattern pattern);
  const std::vector<Pattern>& patterns() const { return patterns_; }
  size_t size() const { return patterns_.size(); }
  void Clear();

 private:
  std::vector<Pattern> patterns_;
  std::set<std::vector<int>> seen_;
};

}  // namespace gpuslice::plan::internal
