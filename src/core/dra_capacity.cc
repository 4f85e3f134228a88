#include "core/dra_capacity.h"

#include <limits>

namespace gpuslice::core {

uint64_t BookedClaimMemory(uint64_t requested, const DraConfig& policy) {
  const uint64_t min = policy.memory_min_bytes;
  const uint64_t step = policy.memory_step_bytes;
  if (requested <= min) return min;
  const uint64_t above = requested - min;
  const uint64_t steps = above / step + (above % step != 0 ? 1 : 0);
  if (steps > (std::numeric_limits<uint64_t>::max() - min) / step) {
    return std::numeric_limits<uint64_t>::max();
  }
  return min + steps * step;
}

uint64_t LargestClaimMemory(uint64_t usable, const DraConfig& policy) {
  const uint64_t min = policy.memory_min_bytes;
  const uint64_t step = policy.memory_step_bytes;
  if (usable < min || step == 0) return 0;
  return min + (usable - min) / step * step;
}

}  // namespace gpuslice::core
