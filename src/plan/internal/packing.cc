#include "plan/internal/packing.h"

#include <algorithm>
#include <map>
#include <set>

#include "kube/scheduling.h"

namespace gpuslice::plan::internal {

int64_t MaxFit(const Amounts& request, const Amounts& free, int64_t cap) {
  int64_t fit = cap;
  for (size_t i = 0; i < request.size(); ++i) {
    if (request[i] <= 0) continue;
    fit = std::min(fit, At(free, static_cast<int>(i)) / request[i]);
  }
  return std::max<int64_t>(fit, 0);
}

void SubtractTimes(Amounts* free, const Amounts& request, int64_t times) {
  if (free->size() < request.size()) free->resize(request.size(), 0);
  for (size_t i = 0; i < request.size(); ++i) (*free)[i] -= request[i] * times;
}

PackingProblem::PackingProblem(const ClusterModel& model, std::optional<double> upper_bound)
    : model_(model) {
  BuildTargets(upper_bound);
  BuildClasses();
}

void PackingProblem::BuildTargets(std::optional<double> upper_bound) {
  for (size_t p = 0; p < model_.pools.size(); ++p) {
    const NodePoolTemplate& pool = model_.pools[p];
    for (size_t o = 0; o < pool.options.size(); ++o) {
      const InstanceOption& option = pool.options[o];
      if (!option.launchable) continue;
      Target target{static_cast<int>(p), static_cast<int>(o), option.allocatable, option.price};
      SubtractTimes(&target.free, pool.daemon_overhead[o], 1);
      if (std::any_of(target.free.begin(), target.free.end(), [](int64_t v) { return v < 0; })) {
        continue;
      }
      if (upper_bound && target.price > *upper_bound + 1e-9) continue;
      targets_.push_back(std::move(target));
    }
  }
  DropDominatedTargets();
}

// A type no cheaper and no larger than another of the same NodePool (with labels no pod
// constraint tells apart) is never needed.
void PackingProblem::DropDominatedTargets() {
  std::vector<bool> dominated(targets_.size(), false);
  for (size_t a = 0; a < targets_.size(); ++a) {
    for (size_t b = 0; b < targets_.size() && !dominated[a]; ++b) {
      if (a == b || dominated[b] || targets_[a].pool != targets_[b].pool) continue;
      const Target& x = targets_[a];
      const Target& y = targets_[b];
      const bool no_smaller = Fits(x.free, y.free);
      const bool no_cheaper = y.price <= x.price;
      const bool strictly = y.price < x.price || !Fits(y.free, x.free) || b < a;
      if (no_smaller && no_cheaper && strictly && SameLabelsForPods(x, y)) dominated[a] = true;
    }
  }
  std::vector<Target> kept;
  for (size_t t = 0; t < targets_.size(); ++t) {
    if (!dominated[t]) kept.push_back(std::move(targets_[t]));
  }
  targets_ = std::move(kept);
}

// True when no pod's label requirements can tell the two types apart.
bool PackingProblem::SameLabelsForPods(const Target& x, const Target& y) const {
  const InstanceOption& a = model_.pools[x.pool].options[x.option];
  const InstanceOption& b = model_.pools[y.pool].options[y.option];
  std::set<int> shapes;  // replicas share their constraints: one look per workload
  for (const PodDemand& demand : model_.pods) {
    if (!shapes.insert(demand.shape).second) continue;
    for (const Requirements& alternative : demand.alternatives) {
      if (a.labels.Intersects(alternative) != b.labels.Intersects(alternative)) return false;
    }
  }
  return true;
}

// Where a pod of this demand can go, and with which requirements on the node.
std::vector<int> PackingProblem::Feasibility(const PodDemand& demand) {
  std::vector<int> residual(targets_.size(), kInfeasible);
  for (size_t t = 0; t < targets_.size(); ++t) {
    const Target& target = targets_[t];
    const NodePoolTemplate& pool = model_.pools[target.pool];
    if (kube::FirstUntoleratedTaint(*demand.tolerations, pool.pool->taints, false)) continue;
    if (!Fits(demand.requests, target.free)) continue;
    const InstanceOption& option = pool.options[target.option];
    for (const Requirements& alternative : demand.alternatives) {
      if (!pool.requirements.Compatible(alternative).ok()) continue;
      Requirements merged = pool.requirements;
      merged.Add(alternative);
      const Requirement* capacity_type = merged.Get(kLabelCapacityType);
      if (capacity_type != nullptr && !capacity_type->Has("on-demand")) continue;
      if (!option.labels.Intersects(merged)) continue;
      residual[t] = merged == pool.requirements ? kUnconstrained : ResidualIndex(merged);
      break;
    }
  }
  return residual;
}

int PackingProblem::ResidualIndex(const Requirements& requirements) {
  for (size_t i = 0; i < residuals_.size(); ++i) {
    if (residuals_[i] == requirements) return static_cast<int>(i) + 1;
  }
  residuals_.push_back(requirements);
  return static_cast<int>(residuals_.size());
}

void PackingProblem::BuildClasses() {
  std::map<int, std::vector<int>> by_shape;
  std::map<std::pair<Amounts, std::vector<int>>, int> index;
  for (size_t d = 0; d < model_.pods.size(); ++d) {
    const PodDemand& demand = model_.pods[d];
    auto shape = by_shape.find(demand.shape);
    if (shape == by_shape.end()) shape = by_shape.emplace(demand.shape, Feasibility(demand)).first;
    const std::vector<int>& residual = shape->second;
    if (std::all_of(residual.begin(), residual.end(), [](int r) { return r == kInfeasible; })) {
      unplaceable_.push_back({d, "fits no instance type of any NodePool"});
      continue;
    }
    auto [it, inserted] =
        index.emplace(std::pair(demand.requests, residual), static_cast<int>(classes_.size()));
    if (inserted) classes_.push_back({{}, demand.requests, residual});
    classes_[it->second].demands.push_back(d);
  }
}

// Joint requirements of a node holding pods with these residuals; false if they conflict.
bool PackingProblem::Join(int residual, Requirements* node) const {
  if (residual == kUnconstrained) return true;
  const Requirements& extra = residuals_[residual - 1];
  if (!node->Compatible(extra).ok()) return false;
  node->Add(extra);
  return true;
}

bool PatternSet::Add(Pattern pattern) {
  std::vector<int> key{pattern.target};
  for (const auto& [c, n] : pattern.counts) {
    key.push_back(c);
    key.push_back(n);
  }
  if (!seen_.insert(std::move(key)).second) return false;
  patterns_.push_back(std::move(pattern));
  return true;
}

void PatternSet::Clear() {
  patterns_.clear();
  seen_.clear();
}

}  // namespace gpuslice::plan::internal
