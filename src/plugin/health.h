// GPU health: which GPUs are unhealthy and why, fed by the driver's critical XID events, and
// when they count as recovered. Unlike plugins that mark a GPU unhealthy forever, a GPU
// becomes healthy again once its recovery window passes without a critical XID and the driver
// still answers for it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/config.h"
#include "gpu/gpu_backend.h"

namespace gpuslice::plugin {

// Thread-safe.
class HealthTracker {
 public:
  HealthTracker(core::HealthConfig config, const core::Clock& clock);

  // Applies a reloaded health config; GPUs already unhealthy stay so.
  void SetConfig(core::HealthConfig config);

  // Whether `xid` is one the config says never marks a GPU unhealthy.
  bool IsIgnored(int xid) const;

  // Records a driver event. A critical one marks its GPU (or, when the event names none, every
  // GPU in `all_uuids`) unhealthy and restarts its recovery window. Returns true when some GPU
  // went from healthy to unhealthy.
  bool Record(const gpu::XidEvent& event, const std::vector<std::string>& all_uuids);

  // Marks healthy every unhealthy GPU whose recovery window has passed and for which `check`
  // returns OK, except GPUs marked by an XID that needs a GPU reset (those stay unhealthy until
  // the plugin restarts, after the operator reset the GPU). Returns the UUIDs that recovered.
  // With a zero window, nothing ever recovers.
  std::vector<std::string> Recover(const std::function<Status(const std::string&)>& check);

  // UUID -> reason ("XID 79", "stopped answering: ...") of every unhealthy GPU.
  std::map<std::string, std::string> Unhealthy() const;

 private:
  struct Failure {
    std::string reason;
    core::Clock::TimePoint last_critical;
    bool needs_reset = false;  // never recovers while this process runs
  };
  core::HealthConfig config_;
  std::set<int> ignored_;
  std::set<int> reset_required_;
  const core::Clock& clock_;
  mutable std::mutex mutex_;
  std::map<std::string, Failure> unhealthy_;
};

struct HealthMonitorOptions {
  // Longest a single wait for driver events blocks, i.e. how quickly Stop() returns.
  std::chrono::milliseconds event_wait{200};
  // How often every GPU is polled (does NVML still answer for it?) and recovery is checked.
  std::chrono::milliseconds poll_interval{std::chrono::seconds(1)};
};

// Runs the event loop on its own thread: driver events into the tracker, recovery checks, and
// a callback whenever the set of unhealthy GPUs changes. Event delivery to the callback takes
// no longer than the driver takes to deliver the event.
class HealthMonitor {
 public:
  using ChangeCallback = std::function<void()>;
  using EventCallback = std::function<void(const gpu::XidEvent&, bool critical)>;

  HealthMonitor(gpu::GpuBackend& backend, HealthTracker& tracker, HealthMonitorOptions options,
                ChangeCallback on_change, EventCallback on_event);
  ~HealthMonitor();

  // Sets the GPUs to watch (all of the node's GPUs); may be called again after rediscovery.
  void SetGpus(std::vector<std::string> uuids);
  void Start();
  void Stop();

 private:
  void Run();
  void PollGpus(const std::vector<std::string>& uuids);
  // Waits `duration` or until Stop(); returns false when stopping.
  bool Sleep(std::chrono::milliseconds duration);

  gpu::GpuBackend& backend_;
  HealthTracker& tracker_;
  HealthMonitorOptions options_;
  ChangeCallback on_change_;
  EventCallback on_event_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<std::string> uuids_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace gpuslice::plugin
