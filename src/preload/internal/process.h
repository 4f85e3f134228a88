// Facts about processes that the region's dead-process reclaim relies on.
#pragma once

#include <sys/types.h>

#include <cstdint>

namespace gpuslice::preload::internal {

// Returns the start time of process `pid` in clock ticks since boot, or 0 when no such
// process runs (never existed, exited, or a zombie, whose GPU memory the driver has already
// freed). A PID reused by a later process yields a different start time.
uint64_t ProcessStartTime(pid_t pid);

}  // namespace gpuslice::preload::internal
