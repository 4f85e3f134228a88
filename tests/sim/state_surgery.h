// Changes a state file's bytes in place through its layout, for tests of what a corrupt file
// does to the processes that open it.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <functional>
#include <string>

#include "sim/internal/layout.h"

namespace gpuslice::testing {

// Maps the state file at `path` and runs `change` on it. False when it cannot be mapped.
inline bool EditStateFile(const std::string& path,
                          const std::function<void(sim::internal::StateFile&)>& change) {
  const int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return false;
  void* address =
      mmap(nullptr, sizeof(sim::internal::StateFile), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (address == MAP_FAILED) return false;
  change(*static_cast<sim::internal::StateFile*>(address));
  munmap(address, sizeof(sim::internal::StateFile));
  return true;
}

}  // namespace gpuslice::testing
