// One registration function per gpuslice subcommand, each defined in its <name>_command.cc.
#pragma once

#include "cli/command.h"

namespace gpuslice::cli {

Subcommand AddSimCommand(CLI::App* root);
Subcommand AddReplayCommand(CLI::App* app);

}  // namespace gpuslice::cli
