// libgpuslice.so is preloaded into whatever image a user runs, so the built library must
// load with an old glibc and export nothing but its hooks. Checked on the built file with
// binutils, as the dynamic loader would see it.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

namespace gpuslice::preload {
namespace {

const std::string kLibrary = std::string(GPUSLICE_LIB_DIR) + "/libgpuslice.so";

std::string Output(const std::string& command) {
  std::string output;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return output;
  std::array<char, 4096> buffer{};
  size_t n = 0;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) output.append(buffer.data(), n);
  pclose(pipe);
  return output;
}

// "GLIBC_2.12" -> {2, 12}; "GLIBC_2.3.2" -> {2, 3, 2}.
std::vector<int> VersionNumbers(const std::string& name) {
  std::vector<int> numbers;
  std::stringstream parts(name.substr(name.find('_') + 1));
  std::string part;
  while (std::getline(parts, part, '.')) numbers.push_back(std::stoi(part));
  return numbers;
}

TEST(Portability, NeedsNoGlibcNewerThan217) {
  if (system("command -v objdump >/dev/null 2>&1") != 0) GTEST_SKIP() << "objdump not installed";
  const std::string headers = Output("objdump -p " + kLibrary);
  ASSERT_NE(headers.find("Version References"), std::string::npos) << headers;
  std::stringstream lines(headers);
  std::string line;
  int versions = 0;
  while (std::getline(lines, line)) {
    const size_t at = line.find("GLIBC_");
    if (at == std::string::npos) continue;
    const std::string version = line.substr(at);
    ++versions;
    EXPECT_LE(VersionNumbers(version), (std::vector<int>{2, 17}))
        << version << " is newer than the oldest glibc CUDA 12 supports:\n" << headers;
  }
  EXPECT_GT(versions, 0);
  // Before glibc 2.34 the pthread and dl functions are not in libc.so.6.
  EXPECT_NE(headers.find("NEEDED               libpthread.so.0"), std::string::npos);
  EXPECT_NE(headers.find("NEEDED               libdl.so.2"), std::string::npos);
  EXPECT_EQ(headers.find("libstdc++"), std::string::npos) << "the C++ runtime is linked in";
}

TEST(Portability, ExportsOnlyTheHooks) {
  if (system("command -v nm >/dev/null 2>&1") != 0) GTEST_SKIP() << "nm not installed";
  std::stringstream symbols(Output("nm -D --defined-only " + kLibrary));
  std::string address, type, name;
  int hooks = 0;
  while (symbols >> address >> type >> name) {
    const bool hook = name.rfind("cu", 0) == 0 || name.rfind("nvml", 0) == 0 || name == "dlsym";
    EXPECT_TRUE(hook) << name << " is exported";
    hooks += hook ? 1 : 0;
  }
  EXPECT_GT(hooks, 40);
}

}  // namespace
}  // namespace gpuslice::preload
