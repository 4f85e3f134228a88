// Every committed fuzzing input, run through its target in the normal test build: the seeds
// each target starts from, and every input a fuzzer once found a crash, hang or broken promise
// with (kept in the same directory), stay regression tests without clang or libFuzzer.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <ostream>
#include <sstream>

#include "targets.h"

namespace gpuslice::fuzz {

// Names the parameter in test listings.
void PrintTo(const Target& target, std::ostream* out) { *out << target.name; }

namespace {

const std::filesystem::path kCorpora =
    std::filesystem::path(GPUSLICE_SOURCE_DIR) / "tests/fuzz/corpus";

class CorpusTest : public ::testing::TestWithParam<Target> {};

TEST_P(CorpusTest, EveryCommittedInputRunsCleanly) {
  const Target& target = GetParam();
  const std::filesystem::path directory = kCorpora / target.name;
  ASSERT_TRUE(std::filesystem::is_directory(directory)) << directory;
  size_t inputs = 0;
  for (const auto& entry : std::filesystem::directory_iterator(directory)) {
    if (!entry.is_regular_file()) continue;
    SCOPED_TRACE(entry.path().string());
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    const std::string input = bytes.str();
    EXPECT_EQ(target.run(reinterpret_cast<const uint8_t*>(input.data()), input.size()), 0);
    ++inputs;
  }
  EXPECT_GT(inputs, 0u) << "no seed inputs in " << directory;
}

INSTANTIATE_TEST_SUITE_P(Targets, CorpusTest, ::testing::ValuesIn(kTargets),
                         [](const ::testing::TestParamInfo<Target>& info) {
                           return std::string(info.param.name);
                         });

}  // namespace
}  // namespace gpuslice::fuzz
