// Finding node patterns: every maximal one (for the exact integer program), or the one a
// column-generation step needs (pricing: the most dual value one node of a type can hold).
#pragma once

#include <optional>
#include <vector>

#include "plan/internal/packing.h"

namespace gpuslice::plan::internal {

// Adds every maximal pattern of every target to `*patterns`. Returns false, with a partial set,
// when there are more than `max_patterns` or the search grows too large.
bool EnumeratePatterns(const PackingProblem& problem, size_t max_patterns, PatternSet* patterns);

// Adds one single-class pattern per class and target, as many pods as fit: the columns column
// generation starts from.
void SeedPatterns(const PackingProblem& problem, PatternSet* patterns);

struct PricedPattern {
  std::optional<Pattern> pattern;  // the best pattern found, if any has value
  double value = 0;                // its dual value, or an upper bound on the best when not `exact`
  bool exact = true;
};

// The pattern of `target` whose pods carry the most dual value (`duals` per class): a small
// integer knapsack solved with GLPK, or by depth-first branch and bound when pods' node
// requirements restrict which classes may share a node. Gives up after a fraction of a second,
// returning the best found and a bound.
PricedPattern PricePattern(const PackingProblem& problem, int target,
                           const std::vector<double>& duals);

}  // namespace gpuslice::plan::internal
