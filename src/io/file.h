// Whole files in and out of memory, with errors that name the path and the reason: the file
// reading every module that takes user files (configs, manifests, specs, catalogs, traces)
// shares.
#pragma once

#include <cstdint>
#include <limits>
#include <string>

#include "core/status.h"

namespace gpuslice::io {

// Returns the bytes of the file at `path`. NotFound ("<path>: cannot open: <reason>") when it
// cannot be opened, InvalidArgument when it is larger than `max_bytes`, Unavailable when
// reading it fails midway. Thread-safe.
Result<std::string> ReadFile(const std::string& path,
                             uint64_t max_bytes = std::numeric_limits<uint64_t>::max());

}  // namespace gpuslice::io
