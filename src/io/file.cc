#include "io/file.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace gpuslice::io {

Result<std::string> ReadFile(const std::string& path, uint64_t max_bytes) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return Status::NotFound(path + ": cannot open: " + std::strerror(errno));
  const std::streamoff size = in.tellg();
  if (size >= 0 && static_cast<uint64_t>(size) > max_bytes) {
    return Status::InvalidArgument(path + ": " + std::to_string(size) + " bytes is more than the " +
                                   std::to_string(max_bytes) + "-byte limit");
  }
  in.seekg(0);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Status::Unavailable(path + ": cannot read: " + std::strerror(errno));
  return text.str();
}

}  // namespace gpuslice::io
