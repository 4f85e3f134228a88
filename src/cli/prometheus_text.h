// The Prometheus text exposition format (version 0.0.4), read: what `gpuslice top` gets from
// a node agent's /metrics. Only samples are kept; HELP, TYPE and other comments are skipped.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace gpuslice::cli {

// One sample line: `name{label="value",...} value [timestamp]`.
struct Sample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;  // in the order of the line
  double value = 0;
};

// A label's value, or nullptr when the sample has no such label.
const std::string* FindLabel(const Sample& sample, std::string_view name);

// More text than this is refused: an agent's /metrics for 128 containers is about 110 KB.
inline constexpr size_t kMaxMetricsBytes = 16u << 20;

// Parses `text` line by line. Returns InvalidArgument "<source>:<line>: <what is wrong>" for
// a malformed sample (a bad metric or label name, an unterminated or badly escaped label
// value, a label given twice, a value or timestamp that is not a number), or for text over
// kMaxMetricsBytes. Values may be NaN, +Inf or -Inf as the format allows.
Result<std::vector<Sample>> ParsePrometheusText(std::string_view text, std::string_view source);

}  // namespace gpuslice::cli
