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
  reset_required_.clear();
  reset_required_.insert(core::DefaultResetRequiredXids().begin(),
                         core::DefaultResetRequiredXids().end());
  reset_required_.insert(config_.extra_reset_required_xids.begin(),
                         config_.extra_reset_required_xids.end());
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
  std::vector<std::string> affected =
      event.gpu_uuid.empty() ? all_uuids : std::vector<std::string>{event.gpu_uuid};
  std::lock_guard<std::mutex> lock(mutex_);
  const bool needs_reset = reset_required_.count(event.xid) > 0;
  std::string reason =
      event.xid != 0 ? "XID " + std::to_string(event.xid) : "the driver reported the GPU lost";
  if (needs_reset) reason += " (needs a GPU reset)";
  bool changed = false;
  for (const std::string& uuid : affected) {
    auto [it, inserted] = unhealthy_.try_emplace(uuid);
    changed |= inserted;
    // Once a GPU needs a reset it keeps needing one, whatever is reported after.
    if (inserted || !it->second.needs_reset) {
      it->second.reason = reason;
      it->second.needs_reset = needs_reset;
    }
    it->second.last_critical = clock_.Now();
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
      if (failure.needs_reset) continue;
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

bool HealthMonitor::Sleep(std::chrono::milliseconds duration) {
  std::unique_lock<std::mutex> lock(mutex_);
  return !wake_.wait_for(lock, duration, [this] { return stop_; });
}

void HealthMonitor::PollGpus(const std::vector<std::string>& uuids) {
  bool changed = false;
  for (const std::string& uuid : uuids) {
    Status status = backend_.CheckGpu(uuid);
    if (status.ok()) continue;
    if (tracker_.Record(gpu::XidEvent{uuid, 0}, uuids)) {
      spdlog::warn("GPU {} stopped answering: {}", uuid, status.message());
      changed = true;
    }
  }
  if (changed) on_change_();
}

void HealthMonitor::Run() {
  auto last_poll = std::chrono::steady_clock::now();
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
        // A driver that reports a lost GPU on every wait must not spin this loop.
        if (event->xid == 0 && !Sleep(options_.event_wait)) return;
      } else if (event.status().code() != StatusCode::kDeadlineExceeded) {
        spdlog::warn("cannot watch XID events ({}); polling GPUs every {} ms instead",
                     event.status().message(), options_.poll_interval.count());
        events_available = false;
      }
    } else if (!Sleep(options_.poll_interval)) {
      return;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now - last_poll < options_.poll_interval) continue;
    last_poll = now;
    // Every GPU is polled, events or not: a GPU without XID event support, or one whose
    // driver stopped reporting, still gets marked when it stops answering.
    PollGpus(uuids);
    std::vector<std::string> recovered =
        tracker_.Recover([this](const std::string& uuid) { return backend_.CheckGpu(uuid); });
    for (const std::string& uuid : recovered) spdlog::info("GPU {} is healthy again", uuid);
    if (!recovered.empty()) on_change_();
  }
}

}  // namespace gpuslice::plugin
