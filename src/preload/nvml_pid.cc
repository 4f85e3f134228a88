#include "preload/nvml_pid.h"

#include <algorithm>

namespace gpuslice::preload {

unsigned int ResolveNvmlPid(unsigned int own_pid, const std::vector<unsigned int>& before,
                            const std::vector<unsigned int>& after) {
  if (std::find(after.begin(), after.end(), own_pid) != after.end()) return own_pid;
  unsigned int appeared = 0;
  for (unsigned int pid : after) {
    if (std::find(before.begin(), before.end(), pid) != before.end() || pid == appeared) continue;
    if (appeared != 0) return 0;
    appeared = pid;
  }
  return appeared;
}

}  // namespace gpuslice::preload
