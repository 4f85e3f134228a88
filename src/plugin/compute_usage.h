// How much of each GPU the containers' processes use: the driver's per-process utilization
// samples (nvmlDeviceGetProcessUtilization), kept for a short window so that any scrape reads
// the same recent figure. The processes are named by the PIDs the driver reports, which
// libgpuslice.so publishes in each container's region (core/region.h, nvml_pids).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "gpu/gpu_backend.h"

namespace gpuslice::plugin {

// Thread-safe: one thread samples, any thread reads.
class ComputeUsage {
 public:
  // What a ratio averages over.
  static constexpr std::chrono::seconds kWindow{10};
  // A sample covers the time since the same process's previous one, at most this long: a
  // process the driver left out of its samples for a while was not necessarily busy meanwhile.
  static constexpr std::chrono::seconds kMaxSampleSpan{1};

  // REQUIRES: `backend` outlives this object.
  explicit ComputeUsage(gpu::GpuBackend& backend);

  // Takes the samples of each of `gpu_uuids` the driver made since the previous call and
  // forgets GPUs no longer listed. Meant to run about every second: the driver keeps only a
  // few seconds of samples.
  void Sample(const std::vector<std::string>& gpu_uuids);

  // The fraction of GPU `uuid`'s time, 0-1, that the processes `nvml_pids` kept its SMs busy
  // over the last kWindow (or since sampling began, if later). nullopt when the GPU's processes
  // are not sampled: the backend cannot, or no sample has been taken yet.
  // REQUIRES: `nvml_pids` ascending.
  std::optional<double> UsedRatio(const std::string& uuid,
                                  const std::vector<uint32_t>& nvml_pids) const;

 private:
  struct Busy {
    uint64_t at_us;  // the sample's time
    uint32_t pid;
    uint64_t busy_us;
  };
  struct GpuSamples {
    uint64_t last_seen_us = 0;     // newest sample time read, asked for next time
    uint64_t sampling_since_us = 0;  // the first sample read: nothing before it is known
    uint64_t sampled_at_us = 0;    // the wall clock at the last successful read
    std::map<uint32_t, uint64_t> previous_us;  // each process's previous sample time
    std::deque<Busy> busy;
  };

  gpu::GpuBackend& backend_;
  mutable std::mutex mutex_;
  std::map<std::string, GpuSamples> gpus_;
};

}  // namespace gpuslice::plugin
