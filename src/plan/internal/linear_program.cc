#include "plan/internal/linear_program.h"

#include <cmath>

namespace gpuslice::plan::internal {
namespace {

void SetBounds(double lower, double upper, int* type, double* lo, double* up) {
  const bool has_lower = std::isfinite(lower);
  const bool has_upper = std::isfinite(upper);
  *lo = has_lower ? lower : 0;
  *up = has_upper ? upper : 0;
  *type = has_lower && has_upper ? (lower == upper ? GLP_FX : GLP_DB)
          : has_lower            ? GLP_LO
          : has_upper            ? GLP_UP
                                 : GLP_FR;
}

}  // namespace

LinearProgram::LinearProgram() {
  glp_term_out(GLP_OFF);  // only the CLI prints
  problem_ = glp_create_prob();
  glp_set_obj_dir(problem_, GLP_MIN);
}

LinearProgram::~LinearProgram() { glp_delete_prob(problem_); }

void LinearProgram::Maximize() { glp_set_obj_dir(problem_, GLP_MAX); }

int LinearProgram::AddRow(double lower, double upper) {
  const int row = glp_add_rows(problem_, 1);
  int type;
  double lo, up;
  SetBounds(lower, upper, &type, &lo, &up);
  glp_set_row_bnds(problem_, row, type, lo, up);
  return row - 1;
}

int LinearProgram::AddColumn(double cost, double lower, double upper, bool integer,
                             const std::vector<std::pair<int, double>>& entries) {
  const int column = glp_add_cols(problem_, 1);
  int type;
  double lo, up;
  SetBounds(lower, upper, &type, &lo, &up);
  glp_set_col_bnds(problem_, column, type, lo, up);
  glp_set_obj_coef(problem_, column, cost);
  if (integer) glp_set_col_kind(problem_, column, GLP_IV);
  // GLPK arrays are 1-based; element 0 is ignored.
  std::vector<int> index(entries.size() + 1);
  std::vector<double> value(entries.size() + 1);
  for (size_t i = 0; i < entries.size(); ++i) {
    index[i + 1] = entries[i].first + 1;
    value[i + 1] = entries[i].second;
  }
  glp_set_mat_col(problem_, column, static_cast<int>(entries.size()), index.data(), value.data());
  return column - 1;
}

int LinearProgram::columns() const { return glp_get_num_cols(problem_); }

Status LinearProgram::SolveLp() {
  // Rows mix millicores, bytes and pod counts; scaling keeps the simplex numerically sound.
  glp_scale_prob(problem_, GLP_SF_AUTO);
  glp_smcp parameters;
  glp_init_smcp(&parameters);
  parameters.msg_lev = GLP_MSG_OFF;
  parameters.presolve = GLP_OFF;  // keeps duals available for column generation
  const int error = glp_simplex(problem_, &parameters);
  if (error != 0 || glp_get_status(problem_) != GLP_OPT) {
    return Status::FailedPrecondition("the linear program has no optimal solution (GLPK status " +
                                      std::to_string(glp_get_status(problem_)) + ", error " +
                                      std::to_string(error) + ")");
  }
  return Status::Ok();
}

double LinearProgram::lp_objective() const { return glp_get_obj_val(problem_); }
double LinearProgram::lp_value(int column) const { return glp_get_col_prim(problem_, column + 1); }
double LinearProgram::dual(int row) const { return glp_get_row_dual(problem_, row + 1); }

Status LinearProgram::SolveIp(double seconds, bool* proven) {
  glp_iocp parameters;
  glp_init_iocp(&parameters);
  parameters.msg_lev = GLP_MSG_OFF;
  parameters.presolve = GLP_OFF;  // the LP relaxation is already solved
  parameters.tm_lim = static_cast<int>(std::min(seconds * 1000, 2e9));
  parameters.gmi_cuts = GLP_ON;
  parameters.mir_cuts = GLP_ON;
  parameters.fp_heur = GLP_ON;
  const int error = glp_intopt(problem_, &parameters);
  const int status = glp_mip_status(problem_);
  if ((error != 0 && error != GLP_ETMLIM) || (status != GLP_OPT && status != GLP_FEAS)) {
    return Status::FailedPrecondition("no integer solution found (GLPK status " +
                                      std::to_string(status) + ", error " + std::to_string(error) +
                                      ")");
  }
  *proven = status == GLP_OPT && error == 0;
  return Status::Ok();
}

double LinearProgram::ip_objective() const { return glp_mip_obj_val(problem_); }
double LinearProgram::ip_value(int column) const { return glp_mip_col_val(problem_, column + 1); }

}  // namespace gpuslice::plan::internal
