#include "preload/process_usage.h"

#include <vector>

#include "preload/internal/nvml_devices.h"

namespace gpuslice::preload {
namespace {

class NvmlProcessUsage final : public ProcessUsage {
 public:
  explicit NvmlProcessUsage(const Options& options) : options_(options) {}

  std::optional<uint64_t> UsedBytes(int slice, unsigned int pid) override {
    const std::optional<std::vector<nvmlProcessInfo_t>> processes =
        internal::GpuProcesses(options_, slice);
    if (!processes) return std::nullopt;
    for (const nvmlProcessInfo_t& process : *processes) {
      if (process.pid != pid) continue;
      if (process.usedGpuMemory == static_cast<unsigned long long>(NVML_VALUE_NOT_AVAILABLE)) {
        return std::nullopt;
      }
      return process.usedGpuMemory;
    }
    return 0;
  }

 private:
  const Options& options_;
};

}  // namespace

std::unique_ptr<ProcessUsage> MakeNvmlProcessUsage(const Options& options) {
  return std::make_unique<NvmlProcessUsage>(options);
}

}  // namespace gpuslice::preload
