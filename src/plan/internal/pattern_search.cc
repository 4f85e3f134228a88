#include "plan/internal/pattern_search.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include "plan/internal/linear_program.h"

namespace gpuslice::plan::internal {
namespace {

// Depth-first enumeration of maximal patterns, within a budget of search nodes.
class Enumeration {
 public:
  Enumeration(const PackingProblem& problem, size_t max_patterns, PatternSet* patterns)
      : problem_(problem),
        max_patterns_(max_patterns),
        patterns_(patterns),
        budget_(static_cast<int64_t>(max_patterns) * 50) {}

  bool Run() {
    for (size_t t = 0; t < problem_.targets().size(); ++t) {
      std::vector<int> members;
      for (size_t c = 0; c < problem_.classes().size(); ++c) {
        if (problem_.classes()[c].residual[t] != kInfeasible)
          members.push_back(static_cast<int>(c));
      }
      if (members.empty()) continue;
      std::vector<int> counts(problem_.classes().size(), 0);
      if (!Search(static_cast<int>(t), members, 0, problem_.targets()[t].free,
                  problem_.pool_requirements(problem_.targets()[t]), &counts)) {
        return false;
      }
    }
    return true;
  }

 private:
  bool Search(int t, const std::vector<int>& members, size_t i, const Amounts& free,
              const Requirements& node, std::vector<int>* counts) {
    if (--budget_ < 0 || patterns_->size() > max_patterns_) return false;
    if (i == members.size()) {
      EmitIfMaximal(t, members, free, node, *counts);
      return true;
    }
    const int c = members[i];
    const PodClass& pod_class = problem_.classes()[c];
    Requirements joined = node;
    const bool joins = problem_.Join(pod_class.residual[t], &joined);
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
      const PodClass& pod_class = problem_.classes()[c];
      if (counts[c] >= static_cast<int>(pod_class.demands.size())) continue;
      if (!Fits(pod_class.requests, free)) continue;
      Requirements joined = node;
      if (problem_.Join(pod_class.residual[t], &joined)) return;  // one more pod of `c` still fits
    }
    const InstanceOption& option = problem_.option(problem_.targets()[t]);
    if (!option.labels.Intersects(node)) return;
    patterns_->Add(std::move(pattern));
  }

  const PackingProblem& problem_;
  size_t max_patterns_;
  PatternSet* patterns_;
  int64_t budget_;
};

// Column generation's pricing step for one target.
class Pricing {
 public:
  explicit Pricing(const PackingProblem& problem) : problem_(problem) {}

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
    for (size_t c = 0; c < problem_.classes().size(); ++c) {
      if (problem_.classes()[c].residual[t] == kInfeasible || duals[c] <= 1e-9) continue;
      const int64_t most = MaxFit(problem_.classes()[c].requests, problem_.targets()[t].free,
                                  static_cast<int64_t>(problem_.classes()[c].demands.size()));
      if (most > 0) search.items.push_back({static_cast<int>(c), duals[c], most});
      constrained |= problem_.classes()[c].residual[t] != kUnconstrained;
    }
    *best_value = 0;
    *exact = true;
    if (search.items.empty()) return std::nullopt;
    if (!constrained) return Knapsack(search, best_value, exact);
    std::sort(search.items.begin(), search.items.end(),
              [](const PricingItem& a, const PricingItem& b) { return a.value > b.value; });
    search.counts.assign(search.items.size(), 0);
    search.nodes_left = kPricingNodes;
    Search(&search, 0, problem_.targets()[t].free,
           problem_.pool_requirements(problem_.targets()[t]), 0);
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
    const Amounts& free = problem_.targets()[search.target].free;
    std::vector<int> rows(problem_.model().space.size(), -1);
    for (int d = 0; d < problem_.model().space.size(); ++d) {
      for (const PricingItem& item : search.items) {
        if (At(problem_.classes()[item.c].requests, d) > 0) {
          rows[d] = knapsack.AddRow(-kInfinity, static_cast<double>(At(free, d)));
          break;
        }
      }
    }
    for (const PricingItem& item : search.items) {
      std::vector<std::pair<int, double>> entries;
      for (int d = 0; d < problem_.model().space.size(); ++d) {
        const int64_t size = At(problem_.classes()[item.c].requests, d);
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
      Amounts add = problem_.classes()[search.items[i].c].requests;
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
    for (int d = 0; d < problem_.model().space.size(); ++d) {
      double capacity = static_cast<double>(At(free, d));
      std::vector<std::pair<double, size_t>> by_density;  // value per unit of d
      double unconstrained = 0;
      for (size_t k = i; k < search.items.size(); ++k) {
        const int64_t size = At(problem_.classes()[search.items[k].c].requests, d);
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
        const double size =
            static_cast<double>(At(problem_.classes()[search.items[k].c].requests, d));
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
    const PodClass& pod_class = problem_.classes()[item.c];
    Requirements joined = node;
    const bool joins = problem_.Join(pod_class.residual[search->target], &joined);
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

 private:
  const PackingProblem& problem_;
};

}  // namespace

bool EnumeratePatterns(const PackingProblem& problem, size_t max_patterns, PatternSet* patterns) {
  return Enumeration(problem, max_patterns, patterns).Run();
}

void SeedPatterns(const PackingProblem& problem, PatternSet* patterns) {
  for (size_t t = 0; t < problem.targets().size(); ++t) {
    for (size_t c = 0; c < problem.classes().size(); ++c) {
      const PodClass& pod_class = problem.classes()[c];
      if (pod_class.residual[t] == kInfeasible) continue;
      const int64_t fit = MaxFit(pod_class.requests, problem.targets()[t].free,
                                 static_cast<int64_t>(pod_class.demands.size()));
      if (fit > 0)
        patterns->Add({static_cast<int>(t), {{static_cast<int>(c), static_cast<int>(fit)}}});
    }
  }
}

PricedPattern PricePattern(const PackingProblem& problem, int target,
                           const std::vector<double>& duals) {
  PricedPattern out;
  out.pattern = Pricing(problem).Price(target, duals, &out.value, &out.exact);
  return out;
}

}  // namespace gpuslice::plan::internal
