// The gpuslice command's subcommands. Each lives in its own <name>_command.cc, registers its
// options on the root CLI11 app and hands back what to run when the user picks it. Only this
// module prints to stdout or decides the process exit code.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace gpuslice::cli {

// Process exit codes shared by every subcommand.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // the run failed (I/O, peer, internal error)
inline constexpr int kExitUsage = 2;    // the input was invalid (flags, config, manifests)

struct Subcommand {
  CLI::App* app = nullptr;     // owned by the root app
  std::function<int()> run;    // called after parsing when `app` was chosen; returns exit code
};

}  // namespace gpuslice::cli
