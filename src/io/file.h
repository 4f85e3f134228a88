// Whole files in and out of memory, with errors that name the path and the reason: the one way
// every module that takes user files (configs, manifests, specs, catalogs, traces) reads them,
// and the one way the command line writes the files a user asked for.
//
// Reading is bounded: a file larger than the cap is refused before it is read, standard input
// ("-") is read up to the same cap, and anything that is not a regular file (a FIFO, a device
// such as /dev/zero, a socket) is refused without being read, so no input hangs a command or
// grows it without bound.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace gpuslice::io {

// The largest file (or standard input) read by default: no config, manifest set, spec,
// catalog or trace a user gives is this big.
inline constexpr uint64_t kMaxInputBytes = uint64_t{64} << 20;

// The path that names standard input.
inline constexpr std::string_view kStdinPath = "-";

// What a file of `mode` (stat's st_mode) is, for messages: "a directory", "a FIFO (named pipe)",
// "a character device", "a block device", "a socket", "a regular file".
std::string DescribeFileType(unsigned int mode);

// Returns the bytes of the regular file at `path`, or of standard input when `path` is "-".
// Errors, each naming the path:
//   NotFound         the path does not exist ("<path>: cannot open: No such file or directory")
//   InvalidArgument  it is a directory, a FIFO, a device or a socket; it is larger than
//                    `max_bytes`; it cannot be opened for another reason (permissions, a
//                    symlink loop)
//   Unavailable      reading failed midway
// Thread-safe.
Result<std::string> ReadFile(const std::string& path, uint64_t max_bytes = kMaxInputBytes);

// The files `path` names: `path` itself when it is a file (or "-"); when it is a directory,
// every regular file below it whose name ends in one of `extensions` (".yaml"), recursively,
// following symlinks to directories but entering each directory once, in lexical path order.
// Errors: NotFound when `path` does not exist; InvalidArgument naming the entry for a symlink
// loop, a dangling symlink with one of the extensions, or a directory that cannot be read.
Result<std::vector<std::string>> ListInputFiles(const std::string& path,
                                                const std::vector<std::string>& extensions);

// Writes `text` to `path`, replacing it atomically (a temporary file in the same directory,
// renamed into place; through a symlink, its target is replaced). Refuses (InvalidArgument)
// to replace anything but a regular file: a FIFO, device or socket at `path` is left alone.
// Unavailable when the directory is not writable.
Status WriteFile(const std::string& path, std::string_view text);

}  // namespace gpuslice::io
