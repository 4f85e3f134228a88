// Dense resource vectors for planning: every resource name a plan meets (cpu, memory, pods,
// GPUs, slices, other extended resources) gets an index, so fitting a pod on a node is a loop
// over a few integers instead of map lookups.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "kube/scheduling.h"

namespace gpuslice::plan {

// Amounts per resource index, in the scheduler's units (millicores for cpu, units otherwise).
// A vector shorter than the space reads as zeros beyond its end.
using Amounts = std::vector<int64_t>;

inline constexpr int64_t kUnlimited = std::numeric_limits<int64_t>::max();

class ResourceSpace {
 public:
  static constexpr int kCpu = 0;
  static constexpr int kMemory = 1;
  static constexpr int kPods = 2;
  static constexpr int kNvidiaGpu = 3;

  ResourceSpace();

  // Returns the index of `name`, adding it if new.
  int Index(std::string_view name);
  // Returns the index of `name`, or -1.
  int Find(std::string_view name) const;
  int size() const { return static_cast<int>(names_.size()); }
  const std::string& name(int index) const { return names_[index]; }

  Amounts FromAmounts(const kube::ResourceAmounts& amounts);
  // "cpu=2, memory=8Gi, nvidia.com/gpu=1": the non-zero entries, for messages.
  std::string Format(const Amounts& amounts) const;

 private:
  std::vector<std::string> names_;
};

inline int64_t At(const Amounts& amounts, int index) {
  return index < static_cast<int>(amounts.size()) ? amounts[index] : 0;
}

// `*sum` += `add`, growing `*sum` as needed. Saturates at kUnlimited instead of overflowing.
void AddTo(Amounts* sum, const Amounts& add);
// True when request[i] <= capacity[i] for every i.
bool Fits(const Amounts& request, const Amounts& capacity);
// The first index where request exceeds capacity, or -1.
int FirstExceeded(const Amounts& request, const Amounts& capacity);

}  // namespace gpuslice::plan
