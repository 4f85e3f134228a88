// Which GPUs the node agent offers at all, in either mode: a GPU in MIG mode has lent its memory
// and SMs to its MIG devices, so slicing it as a whole GPU would promise containers memory that
// is not there. The device plugin (PluginManager) and the DRA driver (dra::Driver) both leave
// such GPUs out through LeaveOutMigGpus, with the same log line and the same gauge.
#pragma once

#include <vector>

#include "core/gpu.h"
#include "plugin/metrics.h"

namespace gpuslice::plugin {

// Removes the GPUs in MIG mode from `gpus`, logs each one, and sets kMetricMigExcluded{gpu,index}
// to 1 for each; the family's previous series are cleared first, so a GPU taken out of MIG mode
// loses its series at the next discovery. Declares the family if the registry has not.
void LeaveOutMigGpus(std::vector<core::GpuInfo>& gpus, MetricsRegistry& metrics);

}  // namespace gpuslice::plugin
