// The cheapest set of nodes that holds every pod: an integer program over node patterns (how
// many pods of each kind one node of one instance type holds), solved with GLPK.
//
// Pods with equal requests and constraints form a class; a pattern is a maximal set of pod
// counts per class that fits one node of a NodePool's instance type (allocatable minus DaemonSet
// overhead, joint label requirements, taints). With every maximal pattern enumerated the integer
// program is exact. When there are too many patterns, column generation finds the patterns the
// linear relaxation needs (its optimum is then a valid lower bound) and the integer program over
// them gives a plan that may not be optimal. Beyond `max_ilp_pods` pods only a lower bound is
// computed: the linear relaxation of placing pods on fractional nodes. NodePool limits are
// constraints; pods that cannot be placed within them are reported, never dropped silently.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "plan/cluster_model.h"
#include "plan/provisioner.h"

namespace gpuslice::plan {

struct OptimizerOptions {
  size_t max_ilp_pods = 500;    // above this many pods only the LP bound is computed
  size_t max_patterns = 50000;  // enumerated patterns before switching to column generation
  // For the whole search: column generation stops at half of it, and branch and cut returns
  // the best plan found when it runs out.
  double time_limit_seconds = 10;
  // The cost of a known plan placing every pod (Karpenter's): node types dearer than it cannot
  // be in a cheaper plan, and it caps how many nodes of a type one can hold.
  std::optional<double> upper_bound;
  std::function<void(std::string_view)> progress;  // optional; called with one-line updates
};

struct OptimalNodes {
  int pool = 0;      // index into the model's pools
  int option = 0;    // index into that pool's options
  double count = 0;  // whole for integer solutions, fractional for the LP bound
  // (class, pods on each such node); fractional in the LP bound.
  std::vector<std::pair<int, double>> pods_per_class;
};

struct Optimum {
  bool integral = false;    // nodes form a plan (integer solution), not only a bound
  bool proven = false;      // the plan is optimal, not just the best found
  bool enumerated = false;  // every pattern was enumerated (else column generation)
  double cost = 0;          // USD/hour of `nodes`
  double lower_bound = 0;   // no plan placing the same pods costs less
  std::vector<OptimalNodes> nodes;
  std::vector<std::vector<size_t>> classes;  // pod demands of each class
  std::vector<UnplacedPod> unplaced;         // pods that fit no instance type or exceed limits
};

Result<Optimum> Optimize(const ClusterModel& model, const OptimizerOptions& options);

}  // namespace gpuslice::plan
