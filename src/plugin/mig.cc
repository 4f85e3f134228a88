#include "plugin/mig.h"

#include <spdlog/spdlog.h>

#include <string>
#include <vector>

namespace gpuslice::plugin {

void LeaveOutMigGpus(std::vector<core::GpuInfo>& gpus, MetricsRegistry& metrics) {
  DeclareMigMetric(metrics);
  metrics.Clear(kMetricMigExcluded);
  std::erase_if(gpus, [&](const core::GpuInfo& gpu) {
    if (!gpu.mig_enabled) return false;
    spdlog::warn(
        "GPU {} {} ({}) is in MIG mode: left out (gpuslice slices whole GPUs; serve MIG devices "
        "with NVIDIA's device plugin or DRA driver, or turn MIG off)",
        gpu.index, gpu.uuid, gpu.name);
    metrics.Set(kMetricMigExcluded, {{"gpu", gpu.uuid}, {"index", std::to_string(gpu.index)}}, 1);
    return true;
  });
}

}  // namespace gpuslice::plugin
