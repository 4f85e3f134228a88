#include "plugin/health.h"

#include <spdlog/spdlog.h>

namespace gpuslice::plugin {

HealthTracker::HealthTracker(core::HealthConfig config, const core::Clock& clock)
    : clock_(clock) {
  SetConfig(std::move(config));
}

void HealthTracker::SetConfig(core::HealthConfig config) {
  std::lock_guard<std::mutex> lock(mutex_);
  config_ = std::move(config);
  ignored_.clear();
  ignored_.insert(core::DefaultIgnoredXids().begin(), core::DefaultIgnoredXids().end());
  ignored_.insert(config_.extra_ignored_xids.begin(), config_.extra_ignored_xids.end());
}

bool HealthTracker::IsIgnored(int xid) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return xid != 0 && ignored_.count(xid) > 0;
}

bool HealthTracker::Record(const gpu::XidEvent& event, const std::vector<std::string>& all_uuids) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!config_.enabled) return false;
  }
  if (IsIgnored(event.xid)) return false;
  const std::string reason =
      event.xid != 0 ? "XID " + std::to_string(event.xid) : "the driver reported the GPU lost";
  std::vector<std::string> affected =
      event.gpu_uuid.empty() ? all_uuids : std::vector<std::string>{event.gpu_uuid};
  std::lock_guard<std::mutex> lock(mutex_);
  bool changed = false;
  for (const std::string& uuid : affected) {
    auto [it, inserted] = unhealthy_.insert_or_assign(uuid, Failure{reason, clock_.Now()});
    changed |= inserted;
  }
  return changed;
}

std::vector<std::string> HealthTracker::Recover(
    const std::function<Status(const std::string&)>& check) {
  std::vector<std::string> due;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (config_.recovery_window.count() == 0) return {};
    const auto now = clock_.Now();
    for (const auto& [uuid, failure] : unhealthy_) {
      if (now - failure.last_critical >= config_.recovery_window) due.push_back(uuid);
    }
  }
  // The check talks to the driver: never under the lock.
  std::vector<std::string> recovered;
  for (const std::string& uuid : due) {
    if (!check(uuid).ok()) continue;
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = unhealthy_.find(uuid);
    // A critical XID may have arrived while checking; then the window starts over.
    if (it != unhealthy_.end() && clock_.Now() - it->second.last_critical >= config_.recovery_window) {
      unhealthy_.erase(it);
      recovered.push_back(uuid);
    }
  }
  return recovered;
}

std::map<std::string, std::string> HealthTracker::Unhealthy() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::map<std::string, std::string> out;
  for (const auto& [uuid, failure] : unhealthy_) out[uuid] = failure.reason;
  return out;
}

HealthMonitor::HealthMonitor(gpu::GpuBackend& backend, HealthTracker& tracker,
                             HealthMonitorOptions options, ChangeCallback on_change,
                             EventCallback on_event)
    : backend_(backend),
      tracker_(tracker),
      options_(options),
      on_change_(std::move(on_change)),
      on_event_(std::move(on_event)) {}

HealthMonitor::~HealthMonitor() { Stop(); }

void HealthMonitor::SetGpus(std::vector<std::string> uuids) {
  std::lock_guard<std::mutex> lock(mutex_);
  uuids_ = std::move(uuids);
}

void HealthMonitor::Start() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { Run(); });
}

void HealthMonitor::Stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void HealthMonitor::PollWithoutEvents() {
  std::vector<std::string> uuids;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    wake_.wait_for(lock, options_.poll_interval, [this] { return stop_; });
    if (stop_) return;
    uuids = uuids_;
  }
  bool changed = false;
  for (const std::string& uuid : uuids) {
    Status status = backend_.CheckGpu(uuid);
    if (status.ok()) continue;
    spdlog::warn("GPU {} stopped answering: {}", uuid, status.message());
    changed |= tracker_.Record(gpu::XidEvent{uuid, 0}, uuids);
  }
  if (changed) on_change_();
}

void HealthMonitor::Run() {
  auto last_recovery_check = std::chrono::steady_clock::now();
  bool events_available = true;
  while (true) {
    std::vector<std::string> uuids;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stop_) return;
      uuids = uuids_;
    }
    if (events_available) {
      Result<gpu::XidEvent> event = backend_.WaitForXid(options_.event_wait);
      if (event.ok()) {
        const bool critical = !tracker_.IsIgnored(event->xid);
        on_event_(*event, critical);
        if (tracker_.Record(*event, uuids)) on_change_();
      } else if (event.status().code() != StatusCode::kDeadlineExceeded) {
        spdlog::warn("cannot watch XID events ({}); polling GPUs every {} ms instead",
                     event.status().message(), options_.poll_interval.count());
        events_available = false;
      }
    } else {
      PollWithoutEvents();
    }
    const auto now = std::chrono::steady_clock::now();
    if (now - last_recovery_check >= options_.poll_interval) {
      last_recovery_check = now;
      std::vector<std::string> recovered =
          tracker_.Recover([this](const std::string& uuid) { return backend_.CheckGpu(uuid); });
      for (const std::string& uuid : recovered) spdlog::info("GPU {} is healthy again", uuid);
      if (!recovered.empty()) on_change_();
    }
  }
}

}  // namespace gpuslice::plugin
