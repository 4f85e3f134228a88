#include "replay/metrics.h"

#include <algorithm>
#include <cassert>

namespace gpuslice::replay {

int RoundedPercent(int64_t part, int64_t whole) {
  assert(whole > 0 && part >= 0);
  const __int128 scaled = static_cast<__int128>(part) * 100;
  __int128 quotient = scaled / whole;
  const __int128 twice_remainder = 2 * (scaled - quotient * whole);
  if (twice_remainder > whole || (twice_remainder == whole && quotient % 2 == 1)) ++quotient;
  return static_cast<int>(quotient);
}

AllocationCurve::AllocationCurve(int64_t gpu_capacity_milli) : capacity_(gpu_capacity_milli) {
  assert(capacity_ > 0);
}

void AllocationCurve::Add(int64_t arrived_milli, int64_t allocated_milli) {
  const int x = RoundedPercent(arrived_milli, capacity_);
  if (x >= static_cast<int>(count_.size())) {
    sum_.resize(x + 1, 0.0);
    count_.resize(x + 1, 0);
  }
  sum_[x] += 100.0 * static_cast<double>(allocated_milli) / static_cast<double>(capacity_);
  ++count_[x];
}

std::optional<double> AllocationCurve::At(int x) const {
  auto bins = [&](int from, int to) -> std::optional<double> {
    double sum = 0;
    int64_t count = 0;
    for (int bin = std::max(from, 0); bin <= std::min(to, max_x()); ++bin) {
      sum += sum_[bin];
      count += count_[bin];
    }
    if (count == 0) return std::nullopt;
    return sum / static_cast<double>(count);
  };
  if (std::optional<double> exact = bins(x, x)) return exact;
  return bins(x - 1, x + 1);
}

Spread Summarize(std::vector<double> values) {
  assert(!values.empty());
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  const double median = n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
  return {median, values.front(), values.back()};
}

}  // namespace gpuslice::replay
