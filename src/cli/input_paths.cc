#include "cli/input_paths.h"

#include "io/file.h"

namespace gpuslice::cli {

void AddFilenameOption(CLI::App* app, std::vector<std::string>* filenames) {
  app->add_option("-f,--filename", *filenames,
                  "A manifest file, a directory (its *.yaml, *.yml and *.json files, "
                  "recursively, in path order) or - for standard input; repeatable, read after "
                  "the positional paths")
      ->type_name("PATH")
      ->allow_extra_args(false);
}

Result<std::vector<std::string>> JoinInputPaths(const std::vector<std::string>& positional,
                                                const std::vector<std::string>& filenames) {
  std::vector<std::string> paths = positional;
  paths.insert(paths.end(), filenames.begin(), filenames.end());
  int stdin_count = 0;
  for (const std::string& path : paths) {
    if (path.empty()) {
      return Status::InvalidArgument("an empty path names no manifest file");
    }
    if (path == io::kStdinPath) ++stdin_count;
  }
  if (stdin_count > 1) {
    return Status::InvalidArgument("-f/--filename: standard input (-) is given " +
                                   std::to_string(stdin_count) +
                                   " times; it can be read only once");
  }
  return paths;
}

std::string DescribeInputPaths(const std::vector<std::string>& paths) {
  if (paths.size() != 1) return std::to_string(paths.size()) + " paths";
  return paths[0] == io::kStdinPath ? "standard input" : paths[0];
}

}  // namespace gpuslice::cli
