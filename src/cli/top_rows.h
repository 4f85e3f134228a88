// What `gpuslice top` shows: one row per container and GPU, joined from a node agent's
// gpuslice_container_* series (docs/observability.md), and the row's table cells and JSON.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli/prometheus_text.h"
#include "core/status.h"

namespace gpuslice::cli {

// One container's use of one GPU. A figure the agent did not export (a container whose region
// it cannot read, or one started by a library that keeps no counters) is nullopt.
struct ContainerSliceRow {
  std::string node;  // the node the agent runs on, or the agent's address
  std::string namespace_name;
  std::string pod;
  std::string container;
  std::string gpu;  // UUID
  std::string resource;
  std::optional<double> memory_used_bytes;
  std::optional<double> memory_peak_bytes;
  std::optional<double> memory_limit_bytes;
  std::optional<double> oom_refusals;
  std::optional<double> compute_used;   // 0-1
  std::optional<double> compute_share;  // 0-1
  std::optional<double> throttled_seconds;
};

// The rows of `samples` (one agent's /metrics), labelled with `node`, in namespace, pod,
// container and GPU order. Samples of other families are ignored; a gpuslice_container_*
// sample without one of the labels namespace, pod, container, gpu or resource is an
// InvalidArgument naming `source`, the series and the label.
Result<std::vector<ContainerSliceRow>> ContainerSliceRows(const std::vector<Sample>& samples,
                                                          const std::string& node,
                                                          std::string_view source);

// The table's headers and one row's cells: "3.0 GiB / 10.0 GiB (30%)", "25%", "-" for an
// unknown figure.
std::vector<std::string> TopTableHeaders();
std::vector<std::string> TopTableCells(const ContainerSliceRow& row);

// A row as JSON (camelCase keys, bytes and seconds as numbers, null for an unknown figure).
nlohmann::json TopRowJson(const ContainerSliceRow& row);

}  // namespace gpuslice::cli
