// Durations written the way Kubernetes and Go write them: "300ms", "30s", "5m", "1h30m".
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "core/status.h"

namespace gpuslice::core {

// Accepts a sequence of <non-negative integer><unit> with units h, m, s, ms, or a bare "0".
// Returns InvalidArgument naming the text otherwise (also on overflow).
Result<std::chrono::milliseconds> ParseDuration(std::string_view text);

// Formats in the same notation, largest units first: "5m", "1h30m", "1m30s", "250ms", "0s".
std::string FormatDuration(std::chrono::milliseconds duration);

}  // namespace gpuslice::core
