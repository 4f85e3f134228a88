#include "cli/paths.h"

#include <limits.h>
#include <unistd.h>

#include <filesystem>

namespace gpuslice::cli {

std::string SiblingLibDir() {
  char buffer[PATH_MAX] = {};
  const ssize_t length = readlink("/proc/self/exe", buffer, sizeof(buffer) - 1);
  if (length <= 0) return "lib";
  const std::filesystem::path exe(std::string(buffer, static_cast<size_t>(length)));
  return (exe.parent_path() / ".." / "lib").lexically_normal().string();
}

}  // namespace gpuslice::cli
