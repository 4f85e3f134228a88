// Judging a mapped state file before anything trusts it: every field a process uses as an
// index, a count, a flag, a lock or a fact is checked, so a corrupt or foreign file is refused
// with a message naming it instead of crashing, hanging or misreporting the simulated GPUs.
#pragma once

#include <chrono>
#include <string>

#include "core/status.h"
#include "sim/internal/layout.h"
#include "sim/spec.h"

namespace gpuslice::sim::internal {

// The facts of one GPU as the creator wrote them.
GpuSpec ReadFacts(const GpuFacts& facts);

// Returns OK when `file` (kFileSize mapped bytes, `ready` already set) holds a consistent
// state; FailedPrecondition "state file '<path>' is corrupt: <what>" otherwise, or for a file
// of another layout. A lock held unchanged for `lock_wait` counts as corrupt. Briefly takes
// each GPU's memory lock, repairing after a dead owner as every locker does.
Status CheckStateFile(StateFile* file, const std::string& path, std::chrono::nanoseconds lock_wait);

}  // namespace gpuslice::sim::internal
