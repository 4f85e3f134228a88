// Running the real helm and promtool from the chart's monitoring tests: a command's exit code
// and output, and the chart's rendered documents.
#pragma once

#include <sys/wait.h>
#include <yaml-cpp/yaml.h>

#include <array>
#include <cstdio>
#include <string>
#include <vector>

namespace gpuslice::testing {

inline const std::string kChartDir = std::string(GPUSLICE_SOURCE_DIR) + "/deploy/helm/gpuslice";

struct CommandRun {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

inline CommandRun RunCommand(const std::string& command) {
  CommandRun run;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return run;
  std::array<char, 4096> buffer{};
  size_t n = 0;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0)
    run.output.append(buffer.data(), n);
  const int status = pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

// The documents of `helm template test <chart> --namespace gpu-system <extra>` of `kind`;
// `*output` gets helm's output when it fails.
inline std::vector<YAML::Node> RenderKind(const std::string& kind, const std::string& extra,
                                          CommandRun* run) {
  *run = RunCommand("helm template test " + kChartDir + " --namespace gpu-system " + extra);
  std::vector<YAML::Node> found;
  if (run->exit_code != 0) return found;
  for (const YAML::Node& document : YAML::LoadAll(run->output)) {
    if (document.IsMap() && document["kind"] && document["kind"].as<std::string>() == kind) {
      found.push_back(document);
    }
  }
  return found;
}

inline bool HaveTool(const std::string& version_command) {
  return RunCommand(version_command).exit_code == 0;
}

}  // namespace gpuslice::testing
