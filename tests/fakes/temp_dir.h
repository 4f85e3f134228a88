// A temporary directory removed with everything in it when the object goes away. Paths stay
// short so unix socket paths inside fit the 108-byte limit.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

namespace gpuslice::testing {

class TempDir {
 public:
  TempDir() {
    std::string pattern = "/tmp/gs-XXXXXX";
    path_ = mkdtemp(pattern.data()) != nullptr ? pattern : "";
  }
  ~TempDir() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace gpuslice::testing
