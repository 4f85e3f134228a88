#include "plugin/compute_usage.h"

#include <algorithm>
#include <set>

#include <spdlog/spdlog.h>

namespace gpuslice::plugin {
namespace {

uint64_t RealtimeMicros() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

constexpr uint64_t kWindowUs = std::chrono::microseconds(ComputeUsage::kWindow).count();
constexpr uint64_t kMaxSampleSpanUs = std::chrono::microseconds(ComputeUsage::kMaxSampleSpan).count();

}  // namespace

ComputeUsage::ComputeUsage(gpu::GpuBackend& backend) : backend_(backend) {}

void ComputeUsage::Sample(const std::vector<std::string>& gpu_uuids) {
  const std::set<std::string> listed(gpu_uuids.begin(), gpu_uuids.end());
  std::map<std::string, Result<std::vector<gpu::ProcessUtilizationSample>>> read;
  std::map<std::string, uint64_t> asked_after;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    std::erase_if(gpus_, [&](const auto& entry) { return listed.count(entry.first) == 0; });
    for (const std::string& uuid : listed) asked_after[uuid] = gpus_[uuid].last_seen_us;
  }
  // The driver is asked without the lock, so a scrape never waits on it.
  for (const auto& [uuid, after] : asked_after) {
    read.emplace(uuid, backend_.ProcessUtilization(uuid, after));
  }
  const uint64_t now_us = RealtimeMicros();
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& [uuid, result] : read) {
    auto found = gpus_.find(uuid);
    if (found == gpus_.end()) continue;
    GpuSamples& gpu = found->second;
    if (!result.ok()) {
      spdlog::debug("compute used on {} not sampled: {}", uuid, result.status().message());
      continue;
    }
    std::vector<gpu::ProcessUtilizationSample>& samples = *result;
    std::sort(samples.begin(), samples.end(),
              [](const auto& a, const auto& b) { return a.timestamp_us < b.timestamp_us; });
    for (const gpu::ProcessUtilizationSample& sample : samples) {
      if (sample.timestamp_us <= gpu.last_seen_us) continue;
      if (gpu.sampling_since_us == 0) gpu.sampling_since_us = sample.timestamp_us;
      auto [previous, first] = gpu.previous_us.try_emplace(sample.pid, sample.timestamp_us);
      // A process's first sample only opens its window: the time before it is unknown.
      if (!first) {
        const uint64_t span =
            std::min(sample.timestamp_us - previous->second, kMaxSampleSpanUs);
        previous->second = sample.timestamp_us;
        gpu.busy.push_back({sample.timestamp_us, sample.pid, span * sample.sm_percent / 100});
      }
    }
    if (!samples.empty()) {
      gpu.last_seen_us = std::max(gpu.last_seen_us, samples.back().timestamp_us);
    }
    gpu.sampled_at_us = now_us;
    const uint64_t horizon = now_us > kWindowUs ? now_us - kWindowUs : 0;
    while (!gpu.busy.empty() && gpu.busy.front().at_us <= horizon) gpu.busy.pop_front();
    std::erase_if(gpu.previous_us, [&](const auto& entry) { return entry.second <= horizon; });
  }
}

std::optional<double> ComputeUsage::UsedRatio(const std::string& uuid,
                                              const std::vector<uint32_t>& nvml_pids) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = gpus_.find(uuid);
  if (found == gpus_.end() || found->second.sampled_at_us == 0) return std::nullopt;
  const GpuSamples& gpu = found->second;
  const uint64_t end = gpu.sampled_at_us;
  uint64_t start = end > kWindowUs ? end - kWindowUs : 0;
  // Before the first sample nothing is known: the window starts there while it is younger.
  if (gpu.sampling_since_us != 0) start = std::max(start, gpu.sampling_since_us);
  if (end <= start) return 0.0;
  uint64_t busy = 0;
  for (const Busy& entry : gpu.busy) {
    if (entry.at_us <= start || entry.at_us > end) continue;
    if (std::binary_search(nvml_pids.begin(), nvml_pids.end(), entry.pid)) busy += entry.busy_us;
  }
  return std::min(1.0, static_cast<double>(busy) / static_cast<double>(end - start));
}

}  // namespace gpuslice::plugin
