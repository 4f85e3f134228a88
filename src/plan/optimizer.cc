#include "plan/optimizer.h"

#include <algorithm>
#include <chrono>
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
      : model_(model), options_(options), start_(std::chrono::steady_clock::now()) {}

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
    Progress("optimum: " + std::to_string(placeable) + " pods in " +
             std::to_string(classes_.size()) + " classes over " + std::to_string(targets_.size()) +
             " instance types");
    if (placeable > options_.max_ilp_pods) {
      GPUSLICE_RETURN_IF_ERROR(SolveRelaxation(&optimum));
      return optimum;
    }
    optimum.enumerated = Enumerate();
    if (!optimum.enumerated) {
      patterns_.clear();
      seen_.clear();
      Progress("optimum: too many node patterns to enumerate; generating columns");
    } else {
      Progress("optimum: " + std::to_string(patterns_.size()) + " node patterns");
    }
    GPUSLICE_RETURN_IF_ERROR(SolveMaster(optimum.enumerated, &optimum));
    optimum.patterns = patterns_.size();
    return optimum;
  }

 private:
  double Elapsed() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

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
        if (options_.upper_bound && target.price > *options_.upper_bound + 1e-9) continue;
        targets_.push_back(std::move(target));
      }
    }
    DropDominatedTargets();
  }

  // A type no cheaper and no larger than another of the same NodePool (with labels no pod
  // constraint tells apart) is never needed.
  void DropDominatedTargets() {
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
  bool SameLabelsForPods(const Target& x, const Target& y) const {
    const InstanceOption& a = model_.pools[x.pool].options[x.option];
    const InstanceOption& b = model_.pools[y.pool].options[y.option];
    for (const PodDemand& demand : model_.pods) {
      for (const Requirements& alternative : demand.alternatives) {
        if (a.labels.Intersects(alternative) != b.labels.Intersects(alternative)) return false;
      }
    }
    return true;
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

  struct PricingItem {
    int c;
    double value;  // dual value of one pod
    int64_t most;  // pods that fit on an empty node, at most the class's size
  };

  struct PricingSearch {
    int target = 0;
    std::vector<PricingItem> items;
    std::vector<int> counts;
    std::vector<int> best_counts;
    double best_value = 0;
    double root_bound = 0;
    int64_t nodes_left = 0;
  };

  // Pricing for column generation: the pattern of target `t` whose pods carry the most dual
  // value: a small integer knapsack solved with GLPK, or by depth-first branch and bound when
  // pods' node requirements restrict which classes may share a node. `*best_value` receives that
  // value, or an upper bound on it when the search ran out of time (then `*exact` is false).
  std::optional<Pattern> Price(int t, const std::vector<double>& duals, double* best_value,
                               bool* exact) {
    PricingSearch search;
    search.target = t;
    bool constrained = false;
    for (size_t c = 0; c < classes_.size(); ++c) {
      if (classes_[c].residual[t] == kInfeasible || duals[c] <= 1e-9) continue;
      const int64_t most = MaxFit(classes_[c].requests, targets_[t].free,
                                  static_cast<int64_t>(classes_[c].demands.size()));
      if (most > 0) search.items.push_back({static_cast<int>(c), duals[c], most});
      constrained |= classes_[c].residual[t] != kUnconstrained;
    }
    *best_value = 0;
    *exact = true;
    if (search.items.empty()) return std::nullopt;
    if (!constrained) return Knapsack(search, best_value, exact);
    std::sort(search.items.begin(), search.items.end(),
              [](const PricingItem& a, const PricingItem& b) { return a.value > b.value; });
    search.counts.assign(search.items.size(), 0);
    search.nodes_left = kPricingNodes;
    Search(&search, 0, targets_[t].free, model_.pools[targets_[t].pool].requirements, 0);
    *exact = search.nodes_left > 0;
    *best_value = *exact ? search.best_value : std::max(search.best_value, search.root_bound);
    return ToPattern(search, search.best_counts);
  }

  std::optional<Pattern> ToPattern(const PricingSearch& search,
                                   const std::vector<int>& counts) const {
    Pattern pattern{search.target, {}};
    for (size_t i = 0; i < counts.size(); ++i) {
      if (counts[i] > 0) pattern.counts.emplace_back(search.items[i].c, counts[i]);
    }
    if (pattern.counts.empty()) return std::nullopt;
    std::sort(pattern.counts.begin(), pattern.counts.end());
    return pattern;
  }

  std::optional<Pattern> Knapsack(const PricingSearch& search, double* best_value, bool* exact) {
    LinearProgram knapsack;
    knapsack.Maximize();
    const Amounts& free = targets_[search.target].free;
    std::vector<int> rows(model_.space.size(), -1);
    for (int d = 0; d < model_.space.size(); ++d) {
      for (const PricingItem& item : search.items) {
        if (At(classes_[item.c].requests, d) > 0) {
          rows[d] = knapsack.AddRow(-kInfinity, static_cast<double>(At(free, d)));
          break;
        }
      }
    }
    for (const PricingItem& item : search.items) {
      std::vector<std::pair<int, double>> entries;
      for (int d = 0; d < model_.space.size(); ++d) {
        const int64_t size = At(classes_[item.c].requests, d);
        if (rows[d] >= 0 && size > 0) entries.emplace_back(rows[d], static_cast<double>(size));
      }
      knapsack.AddColumn(item.value, 0, static_cast<double>(item.most), true, entries);
    }
    bool proven = false;
    if (!knapsack.SolveLp().ok() || !knapsack.SolveIp(kPricingSeconds, &proven).ok()) {
      *exact = false;
      *best_value = knapsack.lp_objective();
      return std::nullopt;
    }
    *exact = proven;
    *best_value = proven ? knapsack.ip_objective() : knapsack.lp_objective();
    std::vector<int> counts;
    Amounts used;
    for (size_t i = 0; i < search.items.size(); ++i) {
      counts.push_back(static_cast<int>(std::lround(knapsack.ip_value(static_cast<int>(i)))));
      Amounts add = classes_[search.items[i].c].requests;
      for (int64_t& v : add) v *= counts.back();
      AddTo(&used, add);
    }
    // GLPK works in floating point; a pattern must fit exactly.
    if (!Fits(used, free)) return std::nullopt;
    return ToPattern(search, counts);
  }

  // A pricing knapsack that takes longer yields its best pattern so far and only a bound.
  static constexpr double kPricingSeconds = 0.5;
  // More than this many search nodes per pricing problem and its answer is only a bound.
  static constexpr int64_t kPricingNodes = 2'000'000;

  // An upper bound on the value items[i..] can add within `free`: per resource, the fractional
  // knapsack over that resource alone; the smallest of those holds for all together.
  double Bound(const PricingSearch& search, size_t i, const Amounts& free) const {
    double total = 0;
    for (size_t k = i; k < search.items.size(); ++k) {
      total += search.items[k].value * static_cast<double>(search.items[k].most);
    }
    double bound = total;
    for (int d = 0; d < model_.space.size(); ++d) {
      double capacity = static_cast<double>(At(free, d));
      std::vector<std::pair<double, size_t>> by_density;  // value per unit of d
      double unconstrained = 0;
      for (size_t k = i; k < search.items.size(); ++k) {
        const int64_t size = At(classes_[search.items[k].c].requests, d);
        if (size <= 0) {
          unconstrained += search.items[k].value * static_cast<double>(search.items[k].most);
        } else {
          by_density.emplace_back(search.items[k].value / static_cast<double>(size), k);
        }
      }
      if (by_density.empty()) continue;
      std::sort(by_density.begin(), by_density.end(), std::greater<>());
      double value = unconstrained;
      for (const auto& [density, k] : by_density) {
        const double size = static_cast<double>(At(classes_[search.items[k].c].requests, d));
        const double take = std::min(static_cast<double>(search.items[k].most), capacity / size);
        value += take * search.items[k].value;
        capacity -= take * size;
        if (capacity <= 0) break;
      }
      bound = std::min(bound, value);
    }
    return bound;
  }

  void Search(PricingSearch* search, size_t i, const Amounts& free, const Requirements& node,
              double value) {
    if (--search->nodes_left <= 0) return;
    if (value > search->best_value + 1e-12) {
      search->best_value = value;
      search->best_counts = search->counts;
    }
    if (i == search->items.size()) return;
    const double bound = Bound(*search, i, free);
    if (i == 0) search->root_bound = bound;
    if (value + bound <= search->best_value + 1e-12) return;
    const PricingItem& item = search->items[i];
    const PodClass& pod_class = classes_[item.c];
    Requirements joined = node;
    const bool joins = Join(pod_class.residual[search->target], &joined);
    const int64_t most = joins ? MaxFit(pod_class.requests, free, item.most) : 0;
    for (int64_t k = most; k >= 0 && search->nodes_left > 0; --k) {
      Amounts rest = free;
      SubtractTimes(&rest, pod_class.requests, k);
      search->counts[i] = static_cast<int>(k);
      Search(search, i + 1, rest, k > 0 ? joined : node,
             value + static_cast<double>(k) * item.value);
    }
    search->counts[i] = 0;
  }

  // The master problem: cover every class with patterns (or leave pods unplaced at a prohibitive
  // cost, so limits can never make it infeasible) within the NodePools' limits.
  Status SolveMaster(bool enumerated, Optimum* optimum) {
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
    // A valid lower bound whatever pricing managed: the Lagrangian bound of the last duals
    // (Farley). Equal to the LP optimum once no column prices out and pricing was exact.
    double lagrangian = -kInfinity;
    while (!enumerated) {
      std::vector<double> duals;
      for (int row : class_rows) duals.push_back(master.dual(row));
      double bound = 0;
      for (size_t c = 0; c < classes_.size(); ++c) {
        bound += duals[c] * static_cast<double>(classes_[c].demands.size());
      }
      for (size_t p = 0; p < limit_rows.size(); ++p) {
        for (size_t d = 0; d < limit_rows[p].size(); ++d) {
          if (limit_rows[p][d] >= 0) {
            bound += master.dual(limit_rows[p][d]) * static_cast<double>(model_.pools[p].limits[d]);
          }
        }
      }
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
        double best_value = 0;
        bool exact = true;
        std::optional<Pattern> pattern = Price(static_cast<int>(t), duals, &best_value, &exact);
        const double reduced_cost = target.price + limit_cost - best_value;
        // No optimal plan has more nodes of one type than pods, or than the known plan's cost
        // buys.
        double most_nodes = static_cast<double>(pods);
        if (options_.upper_bound) {
          most_nodes =
              std::min(most_nodes, std::floor(*options_.upper_bound / target.price + 1e-9));
        }
        bound += most_nodes * std::min(0.0, reduced_cost);
        if (pattern && reduced_cost < -1e-7 * std::max(1.0, target.price) && AddPattern(*pattern)) {
          add_column(patterns_.back());
          ++added;
        }
      }
      lagrangian = std::max(lagrangian, bound);
      if (added == 0) break;
      // Column generation tails off: stop once the bound is within 0.1% of the LP, or at half
      // the time limit (the bound stays valid either way).
      if (master.lp_objective() - lagrangian <= 1e-3 * std::max(1.0, master.lp_objective()) ||
          Elapsed() > options_.time_limit_seconds / 2) {
        break;
      }
      GPUSLICE_RETURN_IF_ERROR(master.SolveLp());
      Progress("optimum: " + std::to_string(patterns_.size()) + " node patterns, LP $" +
               std::to_string(master.lp_objective()) + "/h");
    }

    // Columns added since the last solve leave GLPK without an optimal basis to branch from.
    GPUSLICE_RETURN_IF_ERROR(master.SolveLp());
    double lp_unplaced = 0;
    for (int column : slack_columns) lp_unplaced += master.lp_value(column);
    const double lp_bound =
        enumerated ? master.lp_objective() : std::min(master.lp_objective(), lagrangian);
    optimum->lower_bound = lp_bound - unplaced_cost * lp_unplaced;

    std::vector<double> values(master.columns());
    Progress("optimum: branch and bound over " + std::to_string(patterns_.size()) + " patterns");
    bool proven = false;
    GPUSLICE_RETURN_IF_ERROR(
        master.SolveIp(std::max(1.0, options_.time_limit_seconds - Elapsed()), &proven));
    optimum->integral = true;
    optimum->proven = proven && enumerated;
    for (int c = 0; c < master.columns(); ++c) values[c] = std::round(master.ip_value(c));
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
      OptimalNodes nodes{target.pool, target.option, count, {}};
      for (const auto& [c, n] : patterns_[i].counts) nodes.pods_per_class.emplace_back(c, n);
      optimum->nodes.push_back(std::move(nodes));
      optimum->cost += count * target.price;
    }
    if (optimum->proven) optimum->lower_bound = optimum->cost;
    return Status::Ok();
  }

  // The linear relaxation of placing pods on nodes: fractional nodes of each type, whose summed
  // allocatable holds the pods assigned to the type. Instant for any number of pods, and a lower
  // bound on every plan (it ignores that pods cannot be split across nodes).
  Status SolveRelaxation(Optimum* optimum) {
    LinearProgram lp;
    double max_price = 0;
    for (const Target& t : targets_) max_price = std::max(max_price, t.price);
    size_t pods = 0;
    for (const PodClass& c : classes_) pods += c.demands.size();
    const double unplaced_cost = (max_price + 1) * static_cast<double>(pods + 1);

    std::vector<int> class_rows;
    for (const PodClass& c : classes_) {
      class_rows.push_back(lp.AddRow(static_cast<double>(c.demands.size()), kInfinity));
    }
    std::vector<std::vector<int>> limit_rows(model_.pools.size());
    for (size_t p = 0; p < model_.pools.size(); ++p) {
      const Amounts& limits = model_.pools[p].limits;
      limit_rows[p].assign(limits.size(), -1);
      for (size_t d = 0; d < limits.size(); ++d) {
        if (limits[d] != kUnlimited) {
          limit_rows[p][d] = lp.AddRow(-kInfinity, static_cast<double>(limits[d]));
        }
      }
    }
    std::vector<int> slack_columns;
    for (size_t c = 0; c < classes_.size(); ++c) {
      slack_columns.push_back(lp.AddColumn(unplaced_cost, 0,
                                           static_cast<double>(classes_[c].demands.size()), false,
                                           {{class_rows[c], 1}}));
    }
    std::vector<int> node_columns;
    std::vector<std::vector<std::pair<int, int>>> assign_columns(targets_.size());
    for (size_t t = 0; t < targets_.size(); ++t) {
      const Target& target = targets_[t];
      std::vector<int> capacity_rows(model_.space.size(), -1);
      std::vector<std::pair<int, double>> node_entries;
      for (int d = 0; d < model_.space.size(); ++d) {
        capacity_rows[d] = lp.AddRow(-kInfinity, 0);
        node_entries.emplace_back(capacity_rows[d], -static_cast<double>(At(target.free, d)));
      }
      const Amounts& capacity = model_.pools[target.pool].options[target.option].capacity;
      for (size_t d = 0; d < limit_rows[target.pool].size(); ++d) {
        if (limit_rows[target.pool][d] >= 0 && At(capacity, static_cast<int>(d)) > 0) {
          node_entries.emplace_back(limit_rows[target.pool][d],
                                    static_cast<double>(At(capacity, static_cast<int>(d))));
        }
      }
      node_columns.push_back(lp.AddColumn(target.price, 0, kInfinity, false, node_entries));
      for (size_t c = 0; c < classes_.size(); ++c) {
        if (classes_[c].residual[t] == kInfeasible) continue;
        std::vector<std::pair<int, double>> entries{{class_rows[c], 1}};
        for (int d = 0; d < model_.space.size(); ++d) {
          const int64_t size = At(classes_[c].requests, d);
          if (size > 0) entries.emplace_back(capacity_rows[d], static_cast<double>(size));
        }
        assign_columns[t].emplace_back(static_cast<int>(c),
                                       lp.AddColumn(0, 0, kInfinity, false, entries));
      }
    }
    GPUSLICE_RETURN_IF_ERROR(lp.SolveLp());
    for (size_t c = 0; c < classes_.size(); ++c) {
      const int unplaced = static_cast<int>(std::ceil(lp.lp_value(slack_columns[c]) - 1e-6));
      const std::vector<size_t>& demands = classes_[c].demands;
      for (int k = 0; k < unplaced && k < static_cast<int>(demands.size()); ++k) {
        optimum->unplaced.push_back(
            {demands[demands.size() - 1 - k], "does not fit within the NodePools' limits"});
      }
    }
    for (size_t t = 0; t < targets_.size(); ++t) {
      const double count = lp.lp_value(node_columns[t]);
      if (count < 1e-9) continue;
      OptimalNodes nodes{targets_[t].pool, targets_[t].option, count, {}};
      for (const auto& [c, column] : assign_columns[t]) {
        const double assigned = lp.lp_value(column);
        if (assigned > 1e-9) nodes.pods_per_class.emplace_back(c, assigned / count);
      }
      optimum->nodes.push_back(std::move(nodes));
      optimum->cost += count * targets_[t].price;
    }
    optimum->lower_bound = optimum->cost;
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
  std::chrono::steady_clock::time_point start_;
};

}  // namespace

Result<Optimum> Optimize(const ClusterModel& model, const OptimizerOptions& options) {
  return Optimizer(model, options).Run();
}

}  // namespace gpuslice::plan
