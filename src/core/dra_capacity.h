// The memory arithmetic of the DRA request policy (resource.k8s.io/v1 capacity requestPolicy
// with a validRange of min and step): what kube-scheduler books for a claim's request, and the
// largest amount a GPU can give one claim. The driver publishes the policy, plan predicts the
// scheduler's packing with it and node-sim books claims by it, so all three round the same way.
#pragma once

#include <cstdint>

#include "core/config.h"

namespace gpuslice::core {

// The memory the scheduler books for a claim asking `requested` bytes: the minimum when it asks
// for less, otherwise `requested` rounded up to min + k*step. Saturates at UINT64_MAX rather
// than wrapping. REQUIRES: policy.memory_step_bytes > 0 (ValidateConfig checks it).
uint64_t BookedClaimMemory(uint64_t requested, const DraConfig& policy);

// The largest amount the policy allows within `usable` bytes (min + k*step, at most `usable`);
// 0 when `usable` is below the minimum or the step is 0.
uint64_t LargestClaimMemory(uint64_t usable, const DraConfig& policy);

}  // namespace gpuslice::core
