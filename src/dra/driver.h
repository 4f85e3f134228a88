// The DRA kubelet plugin of driver gpu.gpuslice.io (gpuslice-device-plugin --mode=dra): finds
// the GPUs, serves the DRA and health services on its socket, registers through the kubelet's
// plugin watcher, keeps the node's ResourceSlice current (GPUs found or lost, health) and
// prepares claims through ClaimPreparer. GPUs in MIG mode are left out of the slice, as in
// device plugin mode (plugin/mig.h). As a plugin::ServedAgent it gives the HTTP endpoint
// its resource for /healthz and its containers' series for /metrics (dra/claim_metrics.h).
// Stopping it leaves the ResourceSlice and the prepared
// claims in place, so a restart changes nothing for running pods; when the driver stays away
// (uninstalled), the kubelet deletes the slice itself.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/config.h"
#include "dra/claim_preparer.h"
#include "dra/device_model.h"
#include "dra/services.h"
#include "dra/slice_publisher.h"
#include "gpu/gpu_backend.h"
#include "plugin/compute_usage.h"
#include "kubeapi/client.h"
#include "plugin/allocator.h"
#include "plugin/device_plugin_service.h"
#include "plugin/health.h"
#include "plugin/metrics.h"
#include "plugin/region_store.h"
#include "plugin/served_agent.h"

namespace gpuslice::dra {

struct DriverOptions {
  std::string node_name;  // the kubelet's node name: the pool's name
  // Set on nodes with simulated GPUs: containers also get the simulated driver.
  std::optional<plugin::SimulatedDriver> simulated_driver;
  // How often the GPUs are discovered again and the slice checked even without a change.
  std::chrono::milliseconds resync{std::chrono::minutes(5)};
  // Publishing retries back off from the first to the second value while the API server fails.
  std::chrono::milliseconds retry_initial{std::chrono::milliseconds(500)};
  std::chrono::milliseconds retry_max{std::chrono::seconds(30)};
  plugin::HealthMonitorOptions health;
  // The kubelet's PodResources socket, listed at each scrape to name the containers of the
  // prepared claims; empty: /metrics has no per-container series.
  std::string pod_resources_socket;
  // How often the driver's per-process utilization is read for the compute-used series.
  std::chrono::milliseconds compute_sample_interval{std::chrono::seconds(1)};
};

class Driver : public plugin::ServedAgent {
 public:
  // `backend`, `client` and `metrics` must outlive the driver. `metrics` is the registry the
  // HTTP endpoint renders: the driver sets the GPUs it leaves out in MIG mode there.
  Driver(DriverOptions options, core::Config config, gpu::GpuBackend& backend,
         kubeapi::Client& client, plugin::MetricsRegistry& metrics, const core::Clock& clock);
  ~Driver() override;

  // Discovers the GPUs, loads the checkpoint, serves the sockets and starts the health
  // monitor and the slice watch. Returns InvalidArgument for a config that does not fit the
  // GPUs or no node name, Unavailable when discovery fails or a socket cannot be served.
  Status Start();

  // Runs the control loop on the calling thread until Stop(): publishes the slice, retrying
  // with backoff, and again whenever health, the GPUs or the slice in the API server change.
  // REQUIRES: Start() succeeded.
  void Run();

  // Thread-safe; Run() returns soon after. Removes the sockets; keeps slice and claims.
  void Stop();

  // Thread-safe views for tests and logs.
  bool registered() const;
  bool published() const { return published_.load(); }
  std::vector<PreparedClaim> Prepared() const;
  NodeSnapshot Snapshot() const;
  std::string registration_socket() const;
  std::string dra_socket() const;

  // plugin::ServedAgent, thread-safe. REQUIRES: Start() succeeded. The one resource is the
  // driver (its DRA socket, registration, GPUs published and healthy ones).
  std::vector<plugin::ResourceStatus> Resources() const override;
  std::string RenderContainerMetrics() const override;

 private:
  Status Discover();
  nlohmann::json DesiredSlice() const;
  void PublishHealth();
  void WatchSlices();
  void SampleComputeUsage();
  void Wake();

  DriverOptions options_;
  core::Config config_;
  gpu::GpuBackend& backend_;
  kubeapi::Client& client_;
  plugin::MetricsRegistry& metrics_;
  const core::Clock& clock_;

  plugin::RegionStore regions_;
  plugin::ContractBuilder contract_;
  std::unique_ptr<ClaimPreparer> preparer_;
  SlicePublisher publisher_;
  HealthFeed health_feed_;
  plugin::HealthTracker tracker_;
  std::unique_ptr<plugin::HealthMonitor> monitor_;
  plugin::ComputeUsage compute_usage_;

  std::unique_ptr<DraService> dra_service_;
  std::unique_ptr<HealthService> health_service_;
  std::unique_ptr<RegistrationService> registration_service_;
  std::unique_ptr<plugin::UnixSocketServer> dra_server_;
  std::unique_ptr<plugin::UnixSocketServer> registration_server_;

  mutable std::mutex mutex_;  // guards everything below
  std::vector<PublishedGpu> gpus_;
  std::vector<GpuSetup> setups_;
  NodeFacts node_;
  bool dirty_ = true;
  std::condition_variable wake_;

  std::atomic<bool> stop_{false};
  std::atomic<bool> published_{false};
  std::thread watcher_;
};

}  // namespace gpuslice::dra
