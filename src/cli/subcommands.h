// One registration function per gpuslice subcommand, each defined in its <name>_command.cc.
#pragma once

#include "cli/command.h"

namespace gpuslice::cli {

Subcommand AddPlanCommand(CLI::App* root);
Subcommand AddRenderCommand(CLI::App* root);
Subcommand AddNodeSimCommand(CLI::App* root);
Subcommand AddReplayCommand(CLI::App* root);
Subcommand AddSimCommand(CLI::App* root);
Subcommand AddTopCommand(CLI::App* root);

}  // namespace gpuslice::cli
