// Facts about processes that the region's dead-process reclaim relies on.
#pragma once

#include <sys/types.h>

#include <cstdint>

namespace gpuslice::preload::internal {

// What /proc says of a process. Reclaiming a process's memory is only safe once it is known
// to be gone, so a failure to read /proc is its own answer, never taken for "gone".
struct ProcessProbe {
  enum class State {
    // Runs, started at `start_time`. A PID reused by a later process has another start time.
    kRunning,
    // No such process runs: it never existed, exited, or is a zombie (whose GPU memory the
    // driver has already freed).
    kGone,
    // /proc could not be read (out of descriptors or memory, no permission, ...): the
    // process may well run.
    kUnknown,
  };
  State state;
  uint64_t start_time;  // clock ticks since boot; 0 unless kRunning
};

// Reads /proc/<pid>/stat. Only ENOENT or ESRCH, or a zombie's state, answer kGone.
ProcessProbe ProbeProcess(pid_t pid);

}  // namespace gpuslice::preload::internal
