#include "plan/optimizer.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "plan/internal/linear_program.h"
#include "plan/internal/packing.h"
#include "plan/internal/pattern_search.h"

namespace gpuslice::plan {
namespace {

using internal::kInfeasible;
using internal::kInfinity;
using internal::LinearProgram;
using internal::PackingProblem;
using internal::Pattern;
using internal::PatternSet;
using internal::PodClass;
using internal::PricedPattern;
using internal::Target;

class Optimizer {
 public:
  Optimizer(const ClusterModel& model, const OptimizerOptions& options)
      : model_(model),
        options_(options),
        problem_(model, options.upper_bound),
        start_(std::chrono::steady_clock::now()) {}

  Result<Optimum> Run() {
    Optimum optimum;
    for (const PodClass& c : classes()) optimum.classes.push_back(c.demands);
    optimum.unplaced = problem_.unplaceable();
    if (classes().empty()) {
      optimum.integral = optimum.proven = optimum.enumerated = true;
      return optimum;
    }
    size_t placeable = 0;
    for (const PodClass& c : classes()) placeable += c.demands.size();
    Progress("optimum: " + std::to_string(placeable) + " pods in " +
             std::to_string(classes().size()) + " classes over " +
             std::to_string(targets().size()) + " instance types");
    if (placeable > options_.max_ilp_pods) {
      GPUSLICE_RETURN_IF_ERROR(SolveRelaxation(&optimum));
      return optimum;
    }
    optimum.enumerated = EnumeratePatterns(problem_, options_.max_patterns, &patterns_);
    if (!optimum.enumerated) {
      patterns_.Clear();
      Progress("optimum: too many node patterns to enumerate; generating columns");
    } else {
      Progress("optimum: " + std::to_string(patterns_.size()) + " node patterns");
    }
    GPUSLICE_RETURN_IF_ERROR(SolveMaster(optimum.enumerated, &optimum));
    return optimum;
  }

 private:
  const std::vector<Target>& targets() const { return problem_.targets(); }
  const std::vector<PodClass>& classes() const { return problem_.classes(); }

  double Elapsed() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

  void Progress(const std::string& line) const {
    if (options_.progress) options_.progress(line);
  }

  // What both formulations share: a row per class that its pods cover (or leave unplaced, at a
  // cost above any plan, so NodePool limits can never make the problem infeasible), with that
  // slack column, and a row per NodePool limit (limit_rows[pool][resource], -1 when unlimited).
  struct CoverRows {
    std::vector<int> class_rows;
    std::vector<std::vector<int>> limit_rows;
    std::vector<int> slack_columns;
    size_t pods = 0;  // over every class
    double unplaced_cost = 0;
  };
  CoverRows AddCoverRows(LinearProgram& lp, bool integer_slack) const {
    CoverRows cover;
    double max_price = 0;
    for (const Target& t : targets()) max_price = std::max(max_price, t.price);
    for (const PodClass& c : classes()) cover.pods += c.demands.size();
    cover.unplaced_cost = (max_price + 1) * static_cast<double>(cover.pods + 1);
    for (const PodClass& c : classes()) {
      cover.class_rows.push_back(lp.AddRow(static_cast<double>(c.demands.size()), kInfinity));
    }
    cover.limit_rows.resize(model_.pools.size());
    for (size_t p = 0; p < model_.pools.size(); ++p) {
      const Amounts& limits = model_.pools[p].limits;
      cover.limit_rows[p].assign(limits.size(), -1);
      for (size_t d = 0; d < limits.size(); ++d) {
        if (limits[d] != kUnlimited) {
          cover.limit_rows[p][d] = lp.AddRow(-kInfinity, static_cast<double>(limits[d]));
        }
      }
    }
    for (size_t c = 0; c < classes().size(); ++c) {
      cover.slack_columns.push_back(
          lp.AddColumn(cover.unplaced_cost, 0, static_cast<double>(classes()[c].demands.size()),
                       integer_slack, {{cover.class_rows[c], 1}}));
    }
    return cover;
  }

  // The master problem: cover every class with patterns (or leave pods unplaced at a prohibitive
  // cost, so limits can never make it infeasible) within the NodePools' limits.
  Status SolveMaster(bool enumerated, Optimum* optimum) {
    LinearProgram master;
    const CoverRows cover = AddCoverRows(master, /*integer_slack=*/true);
    const std::vector<int>& class_rows = cover.class_rows;
    const std::vector<std::vector<int>>& limit_rows = cover.limit_rows;
    const std::vector<int>& slack_columns = cover.slack_columns;
    const double unplaced_cost = cover.unplaced_cost;
    const size_t pods = cover.pods;
    std::vector<int> pattern_columns;
    const auto add_column = [&](const Pattern& pattern) {
      const Target& target = targets()[pattern.target];
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

    if (!enumerated) SeedPatterns(problem_, &patterns_);
    for (const Pattern& pattern : patterns_.patterns()) add_column(pattern);
    GPUSLICE_RETURN_IF_ERROR(master.SolveLp());
    // A valid lower bound whatever pricing managed: the Lagrangian bound of the last duals
    // (Farley). Equal to the LP optimum once no column prices out and pricing was exact.
    double lagrangian = -kInfinity;
    while (!enumerated) {
      std::vector<double> duals;
      for (int row : class_rows) duals.push_back(master.dual(row));
      double bound = 0;
      for (size_t c = 0; c < classes().size(); ++c) {
        bound += duals[c] * static_cast<double>(classes()[c].demands.size());
      }
      for (size_t p = 0; p < limit_rows.size(); ++p) {
        for (size_t d = 0; d < limit_rows[p].size(); ++d) {
          if (limit_rows[p][d] >= 0) {
            bound += master.dual(limit_rows[p][d]) * static_cast<double>(model_.pools[p].limits[d]);
          }
        }
      }
      size_t added = 0;
      for (size_t t = 0; t < targets().size(); ++t) {
        // Limits make capacity cost something too (their duals are <= 0).
        double limit_cost = 0;
        const Target& target = targets()[t];
        const Amounts& capacity = model_.pools[target.pool].options[target.option].capacity;
        for (size_t d = 0; d < limit_rows[target.pool].size(); ++d) {
          if (limit_rows[target.pool][d] >= 0) {
            limit_cost -= master.dual(limit_rows[target.pool][d]) *
                          static_cast<double>(At(capacity, static_cast<int>(d)));
          }
        }
        const PricedPattern priced = PricePattern(problem_, static_cast<int>(t), duals);
        const double reduced_cost = target.price + limit_cost - priced.value;
        // No optimal plan has more nodes of one type than pods, or than the known plan's cost
        // buys.
        double most_nodes = static_cast<double>(pods);
        if (options_.upper_bound) {
          most_nodes =
              std::min(most_nodes, std::floor(*options_.upper_bound / target.price + 1e-9));
        }
        bound += most_nodes * std::min(0.0, reduced_cost);
        if (priced.pattern && reduced_cost < -1e-7 * std::max(1.0, target.price) &&
            patterns_.Add(*priced.pattern)) {
          add_column(patterns_.patterns().back());
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
    for (size_t c = 0; c < classes().size(); ++c) {
      const int unplaced = static_cast<int>(std::ceil(values[slack_columns[c]] - 1e-9));
      const std::vector<size_t>& demands = classes()[c].demands;
      for (int k = 0; k < unplaced && k < static_cast<int>(demands.size()); ++k) {
        optimum->unplaced.push_back(
            {demands[demands.size() - 1 - k], "does not fit within the NodePools' limits"});
      }
    }
    for (size_t i = 0; i < patterns_.size(); ++i) {
      const double count = values[pattern_columns[i]];
      if (count < 1e-9) continue;
      const Pattern& pattern = patterns_.patterns()[i];
      const Target& target = targets()[pattern.target];
      OptimalNodes nodes{target.pool, target.option, count, {}};
      for (const auto& [c, n] : pattern.counts) nodes.pods_per_class.emplace_back(c, n);
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
    const CoverRows cover = AddCoverRows(lp, /*integer_slack=*/false);
    const std::vector<int>& class_rows = cover.class_rows;
    const std::vector<std::vector<int>>& limit_rows = cover.limit_rows;
    const std::vector<int>& slack_columns = cover.slack_columns;
    std::vector<int> node_columns;
    std::vector<std::vector<std::pair<int, int>>> assign_columns(targets().size());
    for (size_t t = 0; t < targets().size(); ++t) {
      const Target& target = targets()[t];
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
      for (size_t c = 0; c < classes().size(); ++c) {
        if (classes()[c].residual[t] == kInfeasible) continue;
        std::vector<std::pair<int, double>> entries{{class_rows[c], 1}};
        for (int d = 0; d < model_.space.size(); ++d) {
          const int64_t size = At(classes()[c].requests, d);
          if (size > 0) entries.emplace_back(capacity_rows[d], static_cast<double>(size));
        }
        assign_columns[t].emplace_back(static_cast<int>(c),
                                       lp.AddColumn(0, 0, kInfinity, false, entries));
      }
    }
    GPUSLICE_RETURN_IF_ERROR(lp.SolveLp());
    for (size_t c = 0; c < classes().size(); ++c) {
      const int unplaced = static_cast<int>(std::ceil(lp.lp_value(slack_columns[c]) - 1e-6));
      const std::vector<size_t>& demands = classes()[c].demands;
      for (int k = 0; k < unplaced && k < static_cast<int>(demands.size()); ++k) {
        optimum->unplaced.push_back(
            {demands[demands.size() - 1 - k], "does not fit within the NodePools' limits"});
      }
    }
    for (size_t t = 0; t < targets().size(); ++t) {
      const double count = lp.lp_value(node_columns[t]);
      if (count < 1e-9) continue;
      OptimalNodes nodes{targets()[t].pool, targets()[t].option, count, {}};
      for (const auto& [c, column] : assign_columns[t]) {
        const double assigned = lp.lp_value(column);
        if (assigned > 1e-9) nodes.pods_per_class.emplace_back(c, assigned / count);
      }
      optimum->nodes.push_back(std::move(nodes));
      optimum->cost += count * targets()[t].price;
    }
    optimum->lower_bound = optimum->cost;
    return Status::Ok();
  }

  const ClusterModel& model_;
  const OptimizerOptions& options_;
  PackingProblem problem_;
  PatternSet patterns_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace

Result<Optimum> Optimize(const ClusterModel& model, const OptimizerOptions& options) {
  return Optimizer(model, options).Run();
}

}  // namespace gpuslice::plan
