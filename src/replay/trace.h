// Reading the Alibaba GPU cluster trace 2023 ("openb"): node lists
// (`sn,cpu_milli,memory_mib,gpu,model`) and pod lists (`name,cpu_milli,memory_mib,num_gpu,
// gpu_milli[,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time]`). Columns are
// found by their header name, so the shorter multigpu* files and reordered columns both load.
// Every malformed row is an error naming the file, line, column and value.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "replay/cluster.h"

namespace gpuslice::replay {

// One row of a pod list: the request, plus what the trace recorded about the pod's life.
struct TracePod {
  PodSpec spec;                           // gpu_spec '|'-separated becomes spec.gpu_models
  std::string qos;                        // e.g. "LS", "BE"; empty when the column is absent
  std::string phase;                      // pod_phase, e.g. "Running"; empty when absent
  std::optional<int64_t> creation_time;   // seconds; nullopt when absent or empty
  std::optional<int64_t> deletion_time;   // seconds
  std::optional<int64_t> scheduled_time;  // seconds
};

// Parses a node list held in `text`; `source` names it in error messages (usually the path).
// Returns InvalidArgument "<source>:<line>: column '<name>': ..." on the first bad row, a
// missing or repeated column, or an empty list.
Result<std::vector<NodeSpec>> ParseNodeList(std::string_view text, std::string_view source);

// Parses a pod list; errors as ParseNodeList().
Result<std::vector<TracePod>> ParsePodList(std::string_view text, std::string_view source);

// Reads and parses the file at `path`. NotFound when it cannot be read.
Result<std::vector<NodeSpec>> LoadNodeList(const std::string& path);
Result<std::vector<TracePod>> LoadPodList(const std::string& path);

}  // namespace gpuslice::replay
