#include "io/file.h"

#include <gtest/gtest.h>

#include <fstream>

#include "fakes/temp_dir.h"

namespace gpuslice::io {
namespace {

TEST(ReadFile, ReturnsTheBytesExactly) {
  testing::TempDir dir;
  const std::string bytes("line one\nline two\r\n\0binary", 26);
  std::ofstream(dir.Sub("f"), std::ios::binary) << bytes;
  Result<std::string> read = ReadFile(dir.Sub("f"));
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(*read, bytes);
  std::ofstream(dir.Sub("empty"));
  EXPECT_EQ(*ReadFile(dir.Sub("empty")), "");
}

TEST(ReadFile, NamesThePathAndTheReason) {
  testing::TempDir dir;
  Result<std::string> missing = ReadFile(dir.Sub("missing.yaml"));
  ASSERT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(),
            dir.Sub("missing.yaml") + ": cannot open: No such file or directory");
}

TEST(ReadFile, RefusesFilesOverTheLimit) {
  testing::TempDir dir;
  std::ofstream(dir.Sub("big")) << std::string(101, 'x');
  Result<std::string> big = ReadFile(dir.Sub("big"), 100);
  ASSERT_EQ(big.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(big.status().message(), dir.Sub("big") + ": 101 bytes is more than the 100-byte limit");
  EXPECT_TRUE(ReadFile(dir.Sub("big"), 101).ok());
}

}  // namespace
}  // namespace gpuslice::io
