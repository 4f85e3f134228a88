// The manifest paths a subcommand reads: its positional paths and kubectl's -f/--filename
// (repeatable: a file, a directory, or "-" for standard input), checked and joined in one place
// so that plan, render and node-sim take them alike.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "core/status.h"

namespace gpuslice::cli {

// Adds "-f,--filename" to `app`, appending each value to `*filenames`.
void AddFilenameOption(CLI::App* app, std::vector<std::string>* filenames);

// The positional paths followed by the -f values, each as given (kube::LoadManifests reads
// them). InvalidArgument naming the flag for an empty path or for standard input ("-") named
// more than once, since a second read of it would find nothing.
Result<std::vector<std::string>> JoinInputPaths(const std::vector<std::string>& positional,
                                                const std::vector<std::string>& filenames);

// How a set of paths is named in a report: "standard input", the one path, or "3 paths".
std::string DescribeInputPaths(const std::vector<std::string>& paths);

}  // namespace gpuslice::cli
