#include "plan/optimizer.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <set>

#include "kube/scheduling.h"
#include "plan/internal/linear_program.h"

namespace gpuslice::plan {
namespace {

using internal::kInfinity;
using internal::LinearProgram;

// One (NodePool, instance type) a node can be launched as.
struct Target {
  int pool = 0;
  int option = 0;
  Amounts free;  // allocatable minus DaemonSet overhead
  double price = 0;
};

constexpr int kInfeasible = -1;
constexpr int kUnconstrained = 0;  // the pod adds nothing to the pool's requirements

struct PodClass {
  std::vector<size_t> demands;
  Amounts requests;
  // Per target: kInfeasible, kUnconstrained, or an index into the residual requirements.
  std::vector<int> residual;
};

struct Pattern {
  int target = 0;
  std::vector<std::pair<int, int>> counts;  // (class, pods), classes ascending
};

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

class Optimizer {
 public:
  Optimizer(const ClusterModel& model, const OptimizerOptions& options)
      : model_(model), options_(options) {}

  Result<Optimum> Run() {
    BuildTargets();
    BuildClasses();
    Optimum optimum;
    for (const PodClass& c : classes_) optimum.classes.push_back(c.demands);
    optimum.unplaced = unplaceable_;
    if (classes_.empty()) {
      optimum.integral = optimum.proven = optimum.enumerated = true;
      return optimum;
    }
    size_t placeable = 0;
    for (const PodClass& c : classes_) placeable += c.demands.size();
    const bool integer = placeable <= options_.max_ilp_pods;

    Progress("optimum: " + std::to_string(placeable) + " pods in " +
             std::to_string(classes_.size()) + " classes over " + std::to_string(targets_.size()) +
             " instance types");
    optimum.enumerated = integer && Enumerate();
    if (!optimum.enumerated) {
      patterns_.clear();
      seen_.clear();
      Progress("optimum: too many node patterns to enumerate; generating columns");
    } else {
      Progress("optimum: " + std::to_string(patterns_.size()) + " node patterns");
    }
    GPUSLICE_RETURN_IF_ERROR(SolveMaster(integer, optimum.enumerated, &optimum));
    optimum.patterns = patterns_.size();
    return optimum;
  }

 private:
  void Progress(const std::string& line) const {
    if (options_.progress) options_.progress(line);
  }

  void BuildTargets() {
    for (size_t p = 0; p < model_.pools.size(); ++p) {
      const NodePoolTemplate& pool = model_.pools[p];
      for (size_t o = 0; o < pool.options.size(); ++o) {
        const InstanceOption& option = pool.options[o];
        if (!option.launchable) continue;
        Target target{static_cast<int>(p), static_cast<int>(o), option.allocatable, option.price};
        SubtractTimes(&target.free, pool.daemon_overhead, 1);
        if (std::any_of(target.free.begin(), target.free.end(), [](int64_t v) { return v < 0; })) {
          continue;
        }
        targets_.push_back(std::move(target));
      }
    }
  }

  // Where a pod of this demand can go, and with which requirements on the node.
  std::vector<int> Feasibility(const PodDemand& demand) {
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

  int ResidualIndex(const Requirements& requirements) {
    for (size_t i = 0; i < residuals_.size(); ++i) {
      if (residuals_[i] == requirements) return static_cast<int>(i) + 1;
    }
    residuals_.push_back(requirements);
    return static_cast<int>(residuals_.size());
  }

  void BuildClasses() {
    std::map<int, std::vector<int>> by_shape;
    std::map<std::pair<Amounts, std::vector<int>>, int> index;
    for (size_t d = 0; d < model_.pods.size(); ++d) {
      const PodDemand& demand = model_.pods[d];
      auto shape = by_shape.find(demand.shape);
      if (shape == by_shape.end())
        shape = by_shape.emplace(demand.shape, Feasibility(demand)).first;
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
  bool Join(int residual, Requirements* node) const {
    if (residual == kUnconstrained) return true;
    const Requirements& extra = residuals_[residual - 1];
    if (!node->Compatible(extra).ok()) return false;
    node->Add(extra);
    return true;
  }

  bool AddPattern(Pattern pattern) {
    std::vector<int> key{pattern.target};
    for (const auto& [c, n] : pattern.counts) {
      key.push_back(c);
      key.push_back(n);
    }
    if (!seen_.insert(std::move(key)).second) return false;
    patterns_.push_back(std::move(pattern));
    return true;
  }

  // Enumerates every maximal pattern of every target. Returns false when there are more than
  // options_.max_patterns (or the search grows too large).
  bool Enumerate() {
    budget_ = static_cast<int64_t>(options_.max_patterns) * 50;
    for (size_t t = 0; t < targets_.size(); ++t) {
      std::vector<int> members;
      for (size_t c = 0; c < classes_.size(); ++c) {
        if (classes_[c].residual[t] != kInfeasible) members.push_back(static_cast<int>(c));
      }
      if (members.empty()) continue;
      std::vector<int> counts(classes_.size(), 0);
      const NodePoolTemplate& pool = model_.pools[targets_[t].pool];
      if (!Search(static_cast<int>(t), members, 0, targets_[t].free, pool.requirements, &counts)) {
        return false;
      }
    }
    return true;
  }

  bool Search(int t, const std::vector<int>& members, size_t i, const Amounts& free,
              const Requirements& node, std::vector<int>* counts) {
    if (--budget_ < 0 || patterns_.size() > options_.max_patterns) return false;
    if (i == members.size()) {
      EmitIfMaximal(t, members, free, node, *counts);
      return true;
    }
    const int c = members[i];
    const PodClass& pod_class = classes_[c];
    Requirements joined = node;
    const bool joins = Join(pod_class.residual[t], &joined);
    const int64_t most =
        joins ? MaxFit(pod_class.requests, free, static_cast<int64_t>(pod_class.demands.size()))
              : 0;
    // The last class can only take as many as fit: fewer would leave room for one more.
    const int64_t least = i + 1 == members.size() ? most : 0;
    for (int64_t k = most; k >= least; --k) {
      Amounts rest = free;
      SubtractTimes(&rest, pod_class.requests, k);
      (*counts)[c] = static_cast<int>(k);
      if (!Search(t, members, i + 1, rest, k > 0 ? joined : node, counts)) return false;
    }
    (*counts)[c] = 0;
    return true;
  }

  void EmitIfMaximal(int t, const std::vector<int>& members, const Amounts& free,
                     const Requirements& node, const std::vector<int>& counts) {
    Pattern pattern{t, {}};
    for (int c : members) {
      if (counts[c] > 0) pattern.counts.emplace_back(c, counts[c]);
    }
    if (pattern.counts.empty()) return;
    for (int c : members) {
      const PodClass& pod_class = classes_[c];
      if (counts[c] >= static_cast<int>(pod_class.demands.size())) continue;
      if (!Fits(pod_class.requests, free)) continue;
      Requirements joined = node;
      if (Join(pod_class.residual[t], &joined)) return;  // one more pod of `c` still fits
    }
    const InstanceOption& option = model_.pools[targets_[t].pool].options[targets_[t].option];
    if (!option.labels.Intersects(node)) return;
    AddPattern(std::move(pattern));
  }

  // Pricing for column generation: the pattern of target `t` with the largest dual value.
  std::optional<Pattern> Price(int t, const std::vector<double>& duals, double limit_cost) {
    std::vector<int> members;
    for (size_t c = 0; c < classes_.size(); ++c) {
      if (classes_[c].residual[t] != kInfeasible && duals[c] > 1e-9)
        members.push_back(static_cast<int>(c));
    }
    if (members.empty()) return std::nullopt;
    LinearProgram knapsack;
    knapsack.Maximize();
    const Target& target = targets_[t];
    std::vector<int> rows(model_.space.size(), -1);
    for (int d = 0; d < model_.space.size(); ++d) {
      for (int c : members) {
        if (At(classes_[c].requests, d) > 0) {
          rows[d] = knapsack.AddRow(-kInfinity, static_cast<double>(At(target.free, d)));
          break;
        }
      }
    }
    // Classes whose node requirements conflict cannot share a node: an indicator per class.
    std::vector<std::pair<int, int>> conflicts;
    for (size_t a = 0; a < members.size(); ++a) {
      for (size_t b = a + 1; b < members.size(); ++b) {
        Requirements node = model_.pools[target.pool].requirements;
        if (!Join(classes_[members[a]].residual[t], &node) ||
            !Join(classes_[members[b]].residual[t], &node)) {
          conflicts.emplace_back(static_cast<int>(a), static_cast<int>(b));
        }
      }
    }
    std::vector<int> link_rows(members.size(), -1);
    std::vector<int> conflict_rows;
    for (size_t k = 0; k < conflicts.size(); ++k)
      conflict_rows.push_back(knapsack.AddRow(-kInfinity, 1));
    for (size_t k = 0; k < members.size(); ++k) {
      const bool conflicted = std::any_of(conflicts.begin(), conflicts.end(), [&](const auto& p) {
        return p.first == static_cast<int>(k) || p.second == static_cast<int>(k);
      });
      if (conflicted) link_rows[k] = knapsack.AddRow(-kInfinity, 0);
    }
    for (size_t k = 0; k < members.size(); ++k) {
      const PodClass& pod_class = classes_[members[k]];
      std::vector<std::pair<int, double>> entries;
      for (int d = 0; d < model_.space.size(); ++d) {
        if (rows[d] >= 0 && At(pod_class.requests, d) > 0) {
          entries.emplace_back(rows[d], static_cast<double>(At(pod_class.requests, d)));
        }
      }
      const double pods = static_cast<double>(pod_class.demands.size());
      if (link_rows[k] >= 0) entries.emplace_back(link_rows[k], 1);
      knapsack.AddColumn(duals[members[k]], 0, pods, true, entries);
    }
    for (size_t k = 0; k < members.size(); ++k) {
      if (link_rows[k] < 0) continue;
      // indicator_k >= pods_k / n_k: a_k - n_k * indicator_k <= 0
      std::vector<std::pair<int, double>> entries{
          {link_rows[k], -static_cast<double>(classes_[members[k]].demands.size())}};
      for (size_t q = 0; q < conflicts.size(); ++q) {
        if (conflicts[q].first == static_cast<int>(k) ||
            conflicts[q].second == static_cast<int>(k)) {
          entries.emplace_back(conflict_rows[q], 1);
        }
      }
      knapsack.AddColumn(0, 0, 1, true, entries);
    }
    bool proven = false;
    if (!knapsack.SolveLp().ok() || !knapsack.SolveIp(options_.time_limit_seconds, &proven).ok()) {
      return std::nullopt;
    }
    if (target.price + limit_cost - knapsack.ip_objective() > -1e-7 * std::max(1.0, target.price)) {
      return std::nullopt;  // no pattern of this target improves the master
    }
    Pattern pattern{t, {}};
    for (size_t k = 0; k < members.size(); ++k) {
      const int pods = static_cast<int>(std::lround(knapsack.ip_value(static_cast<int>(k))));
      if (pods > 0) pattern.counts.emplace_back(members[k], pods);
    }
    if (pattern.counts.empty()) return std::nullopt;
    return pattern;
  }

  // The master problem: cover every class with patterns (or leave pods unplaced at a prohibitive
  // cost, so limits can never make it infeasible) within the NodePools' limits.
  Status SolveMaster(bool integer, bool enumerated, Optimum* optimum) {
    double max_price = 0;
    for (const Target& t : targets_) max_price = std::max(max_price, t.price);
    size_t pods = 0;
    for (const PodClass& c : classes_) pods += c.demands.size();
    const double unplaced_cost = (max_price + 1) * static_cast<double>(pods + 1);

    LinearProgram master;
    std::vector<int> class_rows;
    for (const PodClass& c : classes_) {
      class_rows.push_back(master.AddRow(static_cast<double>(c.demands.size()), kInfinity));
    }
    // limit_rows[pool][resource]: the pool's limit on that resource, -1 when unlimited.
    std::vector<std::vector<int>> limit_rows(model_.pools.size());
    for (size_t p = 0; p < model_.pools.size(); ++p) {
      const Amounts& limits = model_.pools[p].limits;
      limit_rows[p].assign(limits.size(), -1);
      for (size_t d = 0; d < limits.size(); ++d) {
        if (limits[d] != kUnlimited) {
          limit_rows[p][d] = master.AddRow(-kInfinity, static_cast<double>(limits[d]));
        }
      }
    }
    std::vector<int> slack_columns;
    for (size_t c = 0; c < classes_.size(); ++c) {
      const double n = static_cast<double>(classes_[c].demands.size());
      slack_columns.push_back(master.AddColumn(unplaced_cost, 0, n, true, {{class_rows[c], 1}}));
    }
    std::vector<int> pattern_columns;
    const auto add_column = [&](const Pattern& pattern) {
      const Target& target = targets_[pattern.target];
      std::vector<std::pair<int, double>> entries;
      for (const auto& [c, n] : pattern.counts) entries.emplace_back(class_rows[c], n);
      const Amounts& capacity = model_.pools[target.pool].options[target.option].capacity;
      for (size_t d = 0; d < limit_rows[target.pool].size(); ++d) {
        if (limit_rows[target.pool][d] >= 0 && At(capacity, static_cast<int>(d)) > 0) {
          entries.emplace_back(limit_rows[target.pool][d],
                               static_cast<double>(At(capacity, static_cast<int>(d))));
        }
      }
      pattern_columns.push_back(master.AddColumn(target.price, 0, kInfinity, true, entries));
    };

    if (!enumerated) SeedPatterns();
    for (const Pattern& pattern : patterns_) add_column(pattern);
    GPUSLICE_RETURN_IF_ERROR(master.SolveLp());
    while (!enumerated) {
      std::vector<double> duals;
      for (int row : class_rows) duals.push_back(master.dual(row));
      size_t added = 0;
      for (size_t t = 0; t < targets_.size(); ++t) {
        // Limits make capacity cost something too (their duals are <= 0).
        double limit_cost = 0;
        const Target& target = targets_[t];
        const Amounts& capacity = model_.pools[target.pool].options[target.option].capacity;
        for (size_t d = 0; d < limit_rows[target.pool].size(); ++d) {
          if (limit_rows[target.pool][d] >= 0) {
            limit_cost -= master.dual(limit_rows[target.pool][d]) *
                          static_cast<double>(At(capacity, static_cast<int>(d)));
          }
        }
        std::optional<Pattern> pattern = Price(static_cast<int>(t), duals, limit_cost);
        if (pattern && AddPattern(*pattern)) {
          add_column(patterns_.back());
          ++added;
        }
      }
      if (added == 0) break;
      GPUSLICE_RETURN_IF_ERROR(master.SolveLp());
      Progress("optimum: " + std::to_string(patterns_.size()) + " node patterns, bound $" +
               std::to_string(master.lp_objective()) + "/h");
    }

    double lp_unplaced = 0;
    for (int column : slack_columns) lp_unplaced += master.lp_value(column);
    optimum->lower_bound = master.lp_objective() - unplaced_cost * lp_unplaced;

    std::vector<double> values(master.columns());
    if (integer) {
      Progress("optimum: branch and bound over " + std::to_string(patterns_.size()) + " patterns");
      bool proven = false;
      GPUSLICE_RETURN_IF_ERROR(master.SolveIp(options_.time_limit_seconds, &proven));
      optimum->integral = true;
      optimum->proven = proven && enumerated;
      for (int c = 0; c < master.columns(); ++c) values[c] = std::round(master.ip_value(c));
    } else {
      for (int c = 0; c < master.columns(); ++c) values[c] = master.lp_value(c);
    }
    for (size_t c = 0; c < classes_.size(); ++c) {
      const int unplaced = static_cast<int>(std::ceil(values[slack_columns[c]] - 1e-9));
      const std::vector<size_t>& demands = classes_[c].demands;
      for (int k = 0; k < unplaced && k < static_cast<int>(demands.size()); ++k) {
        optimum->unplaced.push_back(
            {demands[demands.size() - 1 - k], "does not fit within the NodePools' limits"});
      }
    }
    for (size_t i = 0; i < patterns_.size(); ++i) {
      const double count = values[pattern_columns[i]];
      if (count < 1e-9) continue;
      const Target& target = targets_[patterns_[i].target];
      optimum->nodes.push_back({target.pool, target.option, count, patterns_[i].counts});
      optimum->cost += count * target.price;
    }
    if (!optimum->integral) optimum->lower_bound = optimum->cost;
    if (optimum->proven) optimum->lower_bound = optimum->cost;
    return Status::Ok();
  }

  // Column generation starts from one single-class pattern per class and target.
  void SeedPatterns() {
    for (size_t t = 0; t < targets_.size(); ++t) {
      for (size_t c = 0; c < classes_.size(); ++c) {
        const PodClass& pod_class = classes_[c];
        if (pod_class.residual[t] == kInfeasible) continue;
        const int64_t fit = MaxFit(pod_class.requests, targets_[t].free,
                                   static_cast<int64_t>(pod_class.demands.size()));
        if (fit > 0)
          AddPattern({static_cast<int>(t), {{static_cast<int>(c), static_cast<int>(fit)}}});
      }
    }
  }

  const ClusterModel& model_;
  const OptimizerOptions& options_;
  std::vector<Target> targets_;
  std::vector<PodClass> classes_;
  std::vector<Requirements> residuals_;
  std::vector<UnplacedPod> unplaceable_;
  std::vector<Pattern> patterns_;
  std::set<std::vector<int>> seen_;
  int64_t budget_ = 0;
};

}  // namespace

Result<Optimum> Optimize(const ClusterModel& model, const OptimizerOptions& options) {
  return Optimizer(model, options).Run();
}

}  // namespace gpuslice::plan
