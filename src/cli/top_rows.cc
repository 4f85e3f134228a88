#include "cli/top_rows.h"

#include <cmath>
#include <map>
#include <tuple>

#include "cli/output.h"
#include "core/quantity.h"
#include "plugin/container_metrics.h"

namespace gpuslice::cli {
namespace {

using RowField = std::optional<double> ContainerSliceRow::*;

// The families `gpuslice top` reads, and where each lands in a row.
const std::pair<const char*, RowField> kFamilies[] = {
    {plugin::kMetricContainerMemoryUsed, &ContainerSliceRow::memory_used_bytes},
    {plugin::kMetricContainerMemoryPeak, &ContainerSliceRow::memory_peak_bytes},
    {plugin::kMetricContainerMemoryLimit, &ContainerSliceRow::memory_limit_bytes},
    {plugin::kMetricContainerOomRefusals, &ContainerSliceRow::oom_refusals},
    {plugin::kMetricContainerComputeShare, &ContainerSliceRow::compute_share},
    {plugin::kMetricContainerComputeUsed, &ContainerSliceRow::compute_used},
    {plugin::kMetricContainerThrottled, &ContainerSliceRow::throttled_seconds},
};

constexpr const char* kKeyLabels[] = {"namespace", "pod", "container", "gpu", "resource"};

std::string Bytes(const std::optional<double>& bytes) {
  if (!bytes || !std::isfinite(*bytes) || *bytes < 0 || *bytes >= 1.8e19) return "-";
  return core::HumanBytes(static_cast<uint64_t>(std::llround(*bytes)));
}

std::string Percent(double ratio) { return FormatFixed(100 * ratio, 0) + "%"; }

nlohmann::json Json(const std::optional<double>& value) {
  if (!value || !std::isfinite(*value)) return nullptr;
  if (std::fabs(*value) < 9e15 && *value == std::round(*value)) return std::llround(*value);
  return *value;
}

}  // namespace

Result<std::vector<ContainerSliceRow>> ContainerSliceRows(const std::vector<Sample>& samples,
                                                          const std::string& node,
                                                          std::string_view source) {
  using Key = std::tuple<std::string, std::string, std::string, std::string, std::string>;
  std::map<Key, ContainerSliceRow> rows;
  for (const Sample& sample : samples) {
    RowField field = nullptr;
    for (const auto& [family, member] : kFamilies) {
      if (sample.name == family) field = member;
    }
    if (field == nullptr) continue;
    std::string key[5];
    for (size_t i = 0; i < 5; ++i) {
      const std::string* value = FindLabel(sample, kKeyLabels[i]);
      if (value == nullptr) {
        return Status::InvalidArgument(std::string(source) + ": a " + sample.name +
                                       " series has no " + kKeyLabels[i] + " label");
      }
      key[i] = *value;
    }
    ContainerSliceRow& row = rows[Key{key[0], key[1], key[2], key[3], key[4]}];
    row.node = node;
    row.namespace_name = key[0];
    row.pod = key[1];
    row.container = key[2];
    row.gpu = key[3];
    row.resource = key[4];
    row.*field = sample.value;
  }
  std::vector<ContainerSliceRow> out;
  out.reserve(rows.size());
  for (auto& [key, row] : rows) out.push_back(std::move(row));
  return out;
}

std::vector<std::string> TopTableHeaders() {
  return {"NODE", "POD",      "CONTAINER",     "GPU",      "MEMORY USED / LIMIT",
          "PEAK", "REFUSALS", "COMPUTE USED / SHARE", "THROTTLED"};
}

std::vector<std::string> TopTableCells(const ContainerSliceRow& row) {
  std::string memory = Bytes(row.memory_used_bytes) + " / " + Bytes(row.memory_limit_bytes);
  if (row.memory_used_bytes && row.memory_limit_bytes && *row.memory_limit_bytes > 0) {
    memory += " (" + Percent(*row.memory_used_bytes / *row.memory_limit_bytes) + ")";
  }
  const std::string refusals = row.oom_refusals && std::isfinite(*row.oom_refusals)
                                   ? FormatFixed(*row.oom_refusals, 0)
                                   : "-";
  const auto percent_or_dash = [](const std::optional<double>& ratio) {
    return ratio && std::isfinite(*ratio) ? Percent(*ratio) : std::string("-");
  };
  const std::string compute =
      percent_or_dash(row.compute_used) + " / " + percent_or_dash(row.compute_share);
  const std::string throttled = row.throttled_seconds && std::isfinite(*row.throttled_seconds)
                                    ? FormatFixed(*row.throttled_seconds, 1) + "s"
                                    : "-";
  return {row.node, row.namespace_name + "/" + row.pod, row.container, row.gpu,
          memory,   Bytes(row.memory_peak_bytes),       refusals,      compute,
          throttled};
}

nlohmann::json TopRowJson(const ContainerSliceRow& row) {
  return {{"node", row.node},
          {"namespace", row.namespace_name},
          {"pod", row.pod},
          {"container", row.container},
          {"gpu", row.gpu},
          {"resource", row.resource},
          {"memoryUsedBytes", Json(row.memory_used_bytes)},
          {"memoryPeakBytes", Json(row.memory_peak_bytes)},
          {"memoryLimitBytes", Json(row.memory_limit_bytes)},
          {"oomRefusals", Json(row.oom_refusals)},
          {"computeUsed", Json(row.compute_used)},
          {"computeShare", Json(row.compute_share)},
          {"throttledSeconds", Json(row.throttled_seconds)}};
}

}  // namespace gpuslice::cli
