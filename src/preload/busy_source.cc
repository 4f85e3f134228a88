#include "preload/busy_source.h"

#include <algorithm>
#include <vector>

#include "core/abi/nvml.h"
#include "preload/internal/driver.h"
#include "preload/internal/nvml_devices.h"

namespace gpuslice::preload {
namespace {

using internal::DriverFunction;

class NvmlBusySource final : public BusySource {
 public:
  NvmlBusySource(std::vector<nvmlDevice_t> devices, decltype(&nvmlDeviceGetProcessUtilization) get)
      : devices_(std::move(devices)),
        last_seen_(devices_.size(), 0),
        get_utilization_(get) {}

  uint64_t TakeBusyNanos(int slice, unsigned int nvml_pid) override {
    nvmlDevice_t device = devices_[slice];
    unsigned int count = 0;
    nvmlReturn_t result = get_utilization_(device, nullptr, &count, last_seen_[slice]);
    if ((result != NVML_SUCCESS && result != NVML_ERROR_INSUFFICIENT_SIZE) || count == 0) {
      return 0;
    }
    samples_.resize(count);
    result = get_utilization_(device, samples_.data(), &count, last_seen_[slice]);
    if (result != NVML_SUCCESS) return 0;
    // Each sample of this process covers the time since its previous one; the first sample
    // ever only opens the window, as the time before it is unknown.
    std::sort(samples_.begin(), samples_.begin() + count,
              [](const auto& a, const auto& b) { return a.timeStamp < b.timeStamp; });
    uint64_t busy = 0;
    unsigned long long previous = last_seen_[slice];
    unsigned long long newest = previous;
    for (unsigned int i = 0; i < count; ++i) {
      const nvmlProcessUtilizationSample_t& sample = samples_[i];
      if (sample.timeStamp <= last_seen_[slice]) continue;
      newest = std::max(newest, sample.timeStamp);
      if (nvml_pid == 0 || sample.pid != nvml_pid) continue;
      if (previous != 0) busy += (sample.timeStamp - previous) * 1000ULL * sample.smUtil / 100ULL;
      previous = sample.timeStamp;
    }
    last_seen_[slice] = newest;
    return busy;
  }

 private:
  std::vector<nvmlDevice_t> devices_;
  std::vector<unsigned long long> last_seen_;
  std::vector<nvmlProcessUtilizationSample_t> samples_;
  decltype(&nvmlDeviceGetProcessUtilization) get_utilization_;
};

}  // namespace

std::unique_ptr<BusySource> MakeNvmlBusySource(const Options& options) {
  const auto get =
      DriverFunction<decltype(&nvmlDeviceGetProcessUtilization)>("nvmlDeviceGetProcessUtilization");
  if (get == nullptr) return nullptr;
  std::vector<nvmlDevice_t> devices(options.device_count, nullptr);
  for (int i = 0; i < options.device_count; ++i) {
    devices[i] = internal::NvmlHandleOfSlice(options, i);
    if (devices[i] == nullptr) return nullptr;
  }
  return std::make_unique<NvmlBusySource>(std::move(devices), get);
}

}  // namespace gpuslice::preload
