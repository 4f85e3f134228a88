// gpuslice: the command-line front end. Parses the command line, runs the chosen subcommand
// and turns its result into the process exit code.
#include <CLI/CLI.hpp>
#include <vector>

#include "cli/command.h"
#include "cli/subcommands.h"

int main(int argc, char** argv) {
  using namespace gpuslice::cli;
  CLI::App app{
      "gpuslice: GPU slicing for Kubernetes. Many pods share one GPU, each with an "
      "enforced memory limit and compute share.",
      "gpuslice"};
  app.set_version_flag("--version", GPUSLICE_VERSION);
  app.require_subcommand(1);
  std::vector<Subcommand> subcommands = {
      AddPlanCommand(&app),   AddRenderCommand(&app), AddNodeSimCommand(&app),
      AddReplayCommand(&app), AddSimCommand(&app), AddTopCommand(&app),
  };
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  for (const Subcommand& subcommand : subcommands) {
    if (subcommand.app->parsed()) return subcommand.run();
  }
  return kExitUsage;
}
