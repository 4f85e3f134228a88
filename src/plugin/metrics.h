// The plugin's Prometheus metrics: a small registry of counter and gauge families rendered in
// the text exposition format (version 0.0.4).
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace gpuslice::plugin {

// Appends `value` as a label value of the text exposition format: backslash, double quote and
// newline escaped.
void AppendEscapedLabelValue(std::string& out, std::string_view value);

using Labels = std::vector<std::pair<std::string, std::string>>;

// Thread-safe.
class MetricsRegistry {
 public:
  enum class Type { kCounter, kGauge };

  // Declares a family; metrics of undeclared families are dropped. Idempotent.
  void Declare(const std::string& name, Type type, const std::string& help);

  void Increment(const std::string& name, const Labels& labels, double by = 1);
  void Set(const std::string& name, const Labels& labels, double value);
  // Removes every series of a gauge family (before re-setting it from a new inventory).
  void Clear(const std::string& name);

  // Returns the value of a series, or 0 when it does not exist.
  double Get(const std::string& name, const Labels& labels) const;

  std::string Render() const;

 private:
  struct Family {
    Type type = Type::kCounter;
    std::string help;
    std::map<std::string, double> series;  // rendered label set -> value
  };
  static std::string RenderLabels(const Labels& labels);

  mutable std::mutex mutex_;
  std::map<std::string, Family> families_;
};

// Metric names, declared by DeclarePluginMetrics.
inline constexpr const char* kMetricGpuSlices = "gpuslice_gpu_slices";
inline constexpr const char* kMetricGpuHealthy = "gpuslice_gpu_healthy";
inline constexpr const char* kMetricXidEvents = "gpuslice_gpu_xid_events_total";
inline constexpr const char* kMetricAllocations = "gpuslice_allocations_total";
inline constexpr const char* kMetricAllocationErrors = "gpuslice_allocation_errors_total";
inline constexpr const char* kMetricRegistrations = "gpuslice_registrations_total";
inline constexpr const char* kMetricConfigReloads = "gpuslice_config_reloads_total";
inline constexpr const char* kMetricReslicePending = "gpuslice_gpu_reslice_pending";
inline constexpr const char* kMetricRegionsRemoved = "gpuslice_regions_removed_total";
inline constexpr const char* kMetricNodeConfig = "gpuslice_node_config";
inline constexpr const char* kMetricNodeConfigUnknown = "gpuslice_node_config_unknown";
inline constexpr const char* kMetricMigExcluded = "gpuslice_gpu_mig_excluded";
inline constexpr const char* kMetricCdiSpecErrors = "gpuslice_cdi_spec_errors_total";

void DeclarePluginMetrics(MetricsRegistry& registry);
// The one family the DRA driver shares with the device plugin (plugin/mig.h); part of the above.
void DeclareMigMetric(MetricsRegistry& registry);

}  // namespace gpuslice::plugin
