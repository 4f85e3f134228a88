// A small RAII wrapper over GLPK for the optimizer: rows and columns added incrementally, LP
// solved by the simplex method (duals available), then optionally as an integer program by
// branch and cut. GLPK prints nothing. Not thread-safe (GLPK keeps per-thread state).
#pragma once

#include <glpk.h>

#include <limits>
#include <utility>
#include <vector>

#include "core/status.h"

namespace gpuslice::plan::internal {

inline constexpr double kInfinity = std::numeric_limits<double>::infinity();

class LinearProgram {
 public:
  LinearProgram();
  ~LinearProgram();
  LinearProgram(const LinearProgram&) = delete;
  LinearProgram& operator=(const LinearProgram&) = delete;

  void Maximize();
  // Adds a row lower <= sum <= upper (either may be infinite); returns its index from 0.
  int AddRow(double lower, double upper);
  // Adds a column with cost `cost`, bounds, kind and coefficients (row index, value); returns
  // its index from 0.
  int AddColumn(double cost, double lower, double upper, bool integer,
                const std::vector<std::pair<int, double>>& entries);
  int columns() const;

  // Solves the LP relaxation. Returns FailedPrecondition when it is infeasible or unbounded.
  Status SolveLp();
  double lp_objective() const;
  double lp_value(int column) const;
  double dual(int row) const;

  // After SolveLp: branch and cut for at most `seconds`. `*proven` tells whether the result is
  // optimal or only the best found in time. Returns FailedPrecondition when no integer
  // solution was found.
  Status SolveIp(double seconds, bool* proven);
  double ip_objective() const;
  double ip_value(int column) const;

 private:
  glp_prob* problem_;
};

}  // namespace gpuslice::plan::internal
