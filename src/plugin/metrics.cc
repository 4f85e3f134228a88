#include "plugin/metrics.h"

#include <cmath>
#include <cstdio>

namespace gpuslice::plugin {
namespace {

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.17g", value);
  return buffer;
}

}  // namespace

void AppendEscapedLabelValue(std::string& out, std::string_view value) {
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

std::string MetricsRegistry::RenderLabels(const Labels& labels) {
  if (labels.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i > 0) out += ",";
    out += labels[i].first + "=\"";
    AppendEscapedLabelValue(out, labels[i].second);
    out += "\"";
  }
  return out + "}";
}

void MetricsRegistry::Declare(const std::string& name, Type type, const std::string& help) {
  std::lock_guard<std::mutex> lock(mutex_);
  Family& family = families_[name];
  family.type = type;
  family.help = help;
}

void MetricsRegistry::Increment(const std::string& name, const Labels& labels, double by) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = families_.find(name);
  if (it != families_.end()) it->second.series[RenderLabels(labels)] += by;
}

void MetricsRegistry::Set(const std::string& name, const Labels& labels, double value) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = families_.find(name);
  if (it != families_.end()) it->second.series[RenderLabels(labels)] = value;
}

void MetricsRegistry::Clear(const std::string& name) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = families_.find(name);
  if (it != families_.end()) it->second.series.clear();
}

double MetricsRegistry::Get(const std::string& name, const Labels& labels) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = families_.find(name);
  if (it == families_.end()) return 0;
  auto series = it->second.series.find(RenderLabels(labels));
  return series == it->second.series.end() ? 0 : series->second;
}

std::string MetricsRegistry::Render() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string out;
  for (const auto& [name, family] : families_) {
    out += "# HELP " + name + " " + family.help + "\n";
    out += "# TYPE " + name + (family.type == Type::kCounter ? " counter\n" : " gauge\n");
    for (const auto& [labels, value] : family.series) {
      out += name + labels + " " + FormatValue(value) + "\n";
    }
  }
  return out;
}

void DeclareMigMetric(MetricsRegistry& registry) {
  registry.Declare(kMetricMigExcluded, MetricsRegistry::Type::kGauge,
                   "1 for each GPU in MIG mode, which is left out (not advertised, not "
                   "published): gpuslice slices whole GPUs only.");
}

void DeclarePluginMetrics(MetricsRegistry& registry) {
  using Type = MetricsRegistry::Type;
  registry.Declare(kMetricGpuSlices, Type::kGauge,
                   "Slices each GPU is split into, by GPU, model, profile and resource name.");
  registry.Declare(kMetricGpuHealthy, Type::kGauge,
                   "1 when the GPU's slices are advertised healthy, 0 when unhealthy.");
  registry.Declare(kMetricXidEvents, Type::kCounter,
                   "XID events the driver reported, by GPU, XID code and whether it is critical.");
  registry.Declare(kMetricAllocations, Type::kCounter,
                   "Containers given slices by Allocate, by resource name.");
  registry.Declare(kMetricAllocationErrors, Type::kCounter,
                   "Allocate requests refused, by resource name and gRPC status code.");
  registry.Declare(kMetricRegistrations, Type::kCounter,
                   "Registrations with the kubelet, by resource name and result.");
  registry.Declare(kMetricReslicePending, Type::kGauge,
                   "1 while a GPU keeps its old slicing because containers still hold slices "
                   "of it; the configured slicing follows once it is free.");
  registry.Declare(kMetricRegionsRemoved, Type::kCounter,
                   "Region directories removed because the kubelet no longer lists their "
                   "allocation.");
  registry.Declare(kMetricConfigReloads, Type::kCounter,
                   "Config reloads, by result (applied, rejected, unchanged).");
  registry.Declare(kMetricNodeConfig, Type::kGauge,
                   "1 for the config the node serves: a per-node config its label names, or "
                   "default.");
  registry.Declare(kMetricNodeConfigUnknown, Type::kGauge,
                   "1 while the node's config label names a config the release does not have; "
                   "the node keeps serving its previous config.");
  DeclareMigMetric(registry);
  registry.Declare(kMetricCdiSpecErrors, Type::kCounter,
                   "Failed writes of the simulated GPUs' CDI spec.");
}

}  // namespace gpuslice::plugin
