// An in-memory GpuBackend for unit tests: GPUs are set directly, XID events are queued by the
// test and handed out by WaitForXid like NVML's event set does, CheckGpu can be made to fail
// per GPU, and per-process utilization samples are added by the test and read back as NVML
// hands them out (those newer than the time asked for).
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "gpu/gpu_backend.h"

namespace gpuslice::testing {

inline core::GpuInfo MakeGpu(int index, const std::string& name, uint64_t memory_bytes,
                             int numa_node = -1) {
  core::GpuInfo gpu;
  gpu.index = index;
  gpu.uuid = "GPU-" + std::to_string(10000000 + index) + "-aaaa-bbbb-cccc-dddddddddddd";
  gpu.name = name;
  gpu.memory_bytes = memory_bytes;
  gpu.minor = index;
  gpu.numa_node = numa_node;
  return gpu;
}

class FakeGpuBackend : public gpu::GpuBackend {
 public:
  explicit FakeGpuBackend(std::vector<core::GpuInfo> gpus) : gpus_(std::move(gpus)) {}

  Result<gpu::Discovery> Discover() override {
    std::lock_guard<std::mutex> lock(mutex_);
    gpu::Discovery discovery;
    discovery.gpus = gpus_;
    discovery.failures = failures_;
    return discovery;
  }

  Result<gpu::XidEvent> WaitForXid(std::chrono::milliseconds timeout) override {
    std::unique_lock<std::mutex> lock(mutex_);
    if (!events_supported_) return Status::Unavailable("events not supported by this fake");
    if (!cv_.wait_for(lock, timeout, [this] { return !events_.empty(); })) {
      return Status::DeadlineExceeded("no XID event");
    }
    gpu::XidEvent event = events_.front();
    events_.pop_front();
    return event;
  }

  Status CheckGpu(const std::string& uuid) override {
    std::lock_guard<std::mutex> lock(mutex_);
    ++checks_;
    if (failing_.count(uuid) > 0) return Status::Unavailable(uuid + " is lost");
    return Status::Ok();
  }

  void InjectXid(const std::string& uuid, int xid) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      events_.push_back({uuid, xid});
    }
    cv_.notify_all();
  }
  void SetFailing(const std::string& uuid, bool failing) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (failing) {
      failing_.insert(uuid);
    } else {
      failing_.erase(uuid);
    }
  }
  // GPUs found but not answering, as Discover reports them.
  void SetDiscoveryFailures(std::vector<std::string> failures) {
    std::lock_guard<std::mutex> lock(mutex_);
    failures_ = std::move(failures);
  }
  void SetEventsSupported(bool supported) {
    std::lock_guard<std::mutex> lock(mutex_);
    events_supported_ = supported;
  }
  void SetGpus(std::vector<core::GpuInfo> gpus) {
    std::lock_guard<std::mutex> lock(mutex_);
    gpus_ = std::move(gpus);
  }
  Result<std::vector<gpu::ProcessUtilizationSample>> ProcessUtilization(
      const std::string& uuid, uint64_t after_us) override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!utilization_supported_) return Status::FailedPrecondition("not sampled by this fake");
    std::vector<gpu::ProcessUtilizationSample> newer;
    for (const auto& sample : utilization_[uuid]) {
      if (sample.timestamp_us > after_us) newer.push_back(sample);
    }
    return newer;
  }
  void AddUtilization(const std::string& uuid, gpu::ProcessUtilizationSample sample) {
    std::lock_guard<std::mutex> lock(mutex_);
    utilization_[uuid].push_back(sample);
  }
  void SetUtilizationSupported(bool supported) {
    std::lock_guard<std::mutex> lock(mutex_);
    utilization_supported_ = supported;
  }
  int checks() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return checks_;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<core::GpuInfo> gpus_;
  std::deque<gpu::XidEvent> events_;
  std::vector<std::string> failures_;
  std::set<std::string> failing_;
  std::map<std::string, std::vector<gpu::ProcessUtilizationSample>> utilization_;
  bool utilization_supported_ = true;
  bool events_supported_ = true;
  int checks_ = 0;
};

}  // namespace gpuslice::testing
