// The published metric: after every pod, the arrived GPU request (every pod tried, failed
// ones too) and the allocated GPU milli, both as a percent of cluster GPU capacity; the
// allocation curve bins the samples by arrived percent rounded to an integer x and reports the
// mean allocation percent per bin. Results are read at x = 100 and x = 130 and summarized over
// seeds by median, min and max.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace gpuslice::replay {

// Allocation % by integer arrived %, built one sample at a time. Copyable; thread-compatible.
class AllocationCurve {
 public:
  // REQUIRES: gpu_capacity_milli > 0.
  explicit AllocationCurve(int64_t gpu_capacity_milli);

  // Records the cluster state after one pod.
  void Add(int64_t arrived_milli, int64_t allocated_milli);

  // The mean allocation % of the samples whose arrived % rounds (half to even, as the
  // published analysis rounds) to `x`. When there are none, the mean over the samples that
  // round to x-1, x or x+1; nullopt when there are none of those either.
  std::optional<double> At(int x) const;

  // The largest x with a sample; -1 when empty.
  int max_x() const { return static_cast<int>(count_.size()) - 1; }

 private:
  int64_t capacity_;
  std::vector<double> sum_;     // allocation % summed per bin
  std::vector<int64_t> count_;  // samples per bin
};

// The integer percent `part` is of `whole`, rounded half to even. REQUIRES: whole > 0, part >= 0.
int RoundedPercent(int64_t part, int64_t whole);

// Median (the mean of the two middle values for an even count), min and max.
struct Spread {
  double median = 0;
  double min = 0;
  double max = 0;
};
// REQUIRES: !values.empty().
Spread Summarize(std::vector<double> values);

}  // namespace gpuslice::replay
