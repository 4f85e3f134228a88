// Standard base64 (RFC 4648, with padding), as kubeconfig *-data fields carry PEM data.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace gpuslice::kubeapi::internal {

// Returns the decoded bytes; whitespace between groups is skipped. InvalidArgument when `text`
// holds another character or is cut short.
Result<std::string> DecodeBase64(std::string_view text);

std::string EncodeBase64(std::string_view bytes);

}  // namespace gpuslice::kubeapi::internal
