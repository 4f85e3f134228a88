#include "core/contract.h"

#include <gtest/gtest.h>

#include <string>

#include "fakes/text_mutator.h"

namespace gpuslice::core::contract {
namespace {

constexpr const char* kUuidA = "GPU-0a1b2c3d-0000-4000-8000-000000000001";
constexpr const char* kUuidB = "GPU-0a1b2c3d-0000-4000-8000-000000000002";

LimitsFile TwoGpus() {
  LimitsFile limits;
  limits.gpus = {{kUuidA, 10737418240ULL, 25}, {kUuidB, 0, 100}};
  limits.region_path = "/var/run/gpuslice/region";
  limits.allow_disable = true;
  return limits;
}

TEST(LimitsFile, FormatThenParseGivesTheSameLimits) {
  const LimitsFile limits = TwoGpus();
  ASSERT_TRUE(ValidateLimitsFile(limits).ok());
  const std::string text = FormatLimitsFile(limits);
  Result<LimitsFile> parsed = ParseLimitsFile(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString() << "\n" << text;
  ASSERT_EQ(parsed->gpus.size(), 2u);
  EXPECT_EQ(parsed->gpus[0].uuid, kUuidA);
  EXPECT_EQ(parsed->gpus[0].memory_bytes, 10737418240ULL);
  EXPECT_EQ(parsed->gpus[0].compute_percent, 25);
  EXPECT_EQ(parsed->gpus[1].memory_bytes, 0u);
  EXPECT_EQ(parsed->region_path, limits.region_path);
  EXPECT_TRUE(parsed->allow_disable);
}

TEST(LimitsFile, CommentsBlankLinesAndRepeatedSpacesAreAllowed) {
  Result<LimitsFile> parsed =
      ParseLimitsFile("# written by hand\n\nversion 1\n  gpu   " + std::string(kUuidA) +
                      " memory 1024 compute 100\n# end");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_FALSE(parsed->allow_disable);  // the default: the tenant cannot switch it off
  EXPECT_EQ(parsed->region_path, "");
}

struct BadFile {
  std::string text;
  std::string message_part;
};

TEST(LimitsFile, EveryDeviationIsRefusedNamingTheLine) {
  const std::string gpu_a = "gpu " + std::string(kUuidA) + " memory 1 compute 50\n";
  const BadFile cases[] = {
      {"", "empty"},
      {"# only a comment\n", "empty"},
      {"version 2\n" + gpu_a, "version 2 is not supported"},
      {gpu_a, "line 1: expected \"version 1\""},
      {"version 1\n", "names no GPU"},
      {"version 1\nversion 1\n" + gpu_a, "unknown key \"version\""},
      {"version 1\nmemory 5\n" + gpu_a, "line 2: unknown key \"memory\""},
      {"version 1\nregion relative/path\n" + gpu_a, "not an absolute path"},
      {"version 1\nregion /a\nregion /b\n" + gpu_a, "region is given twice"},
      {"version 1\nallow-disable yes\n" + gpu_a, "allow-disable true"},
      {"version 1\nallow-disable false\nallow-disable true\n" + gpu_a, "given twice"},
      {"version 1\ngpu NOT-A-UUID memory 1 compute 50\n", "is not a GPU UUID"},
      {"version 1\ngpu " + std::string(kUuidA) + " memory 1Gi compute 50\n", "memory \"1Gi\""},
      {"version 1\ngpu " + std::string(kUuidA) + " memory -1 compute 50\n", "memory \"-1\""},
      {"version 1\ngpu " + std::string(kUuidA) + " memory 9223372036854775808 compute 50\n",
       "memory"},
      {"version 1\ngpu " + std::string(kUuidA) + " memory 01 compute 50\n", "memory \"01\""},
      {"version 1\ngpu " + std::string(kUuidA) + " memory 1 compute 0\n", "compute \"0\""},
      {"version 1\ngpu " + std::string(kUuidA) + " memory 1 compute 101\n", "compute \"101\""},
      {"version 1\ngpu " + std::string(kUuidA) + " memory 1\n", "line 2: expected \"gpu"},
      {"version 1\n" + gpu_a + gpu_a, "line 3: GPU " + std::string(kUuidA) + " is named twice"},
      {"version 1\r\n" + gpu_a, "control character"},
      {"version 1\n" + gpu_a + "extra\tfield\n", "line 3: holds a control character"},
      {std::string(kMaxLimitsFileBytes + 1, '#'), "more than"},
  };
  for (const BadFile& bad : cases) {
    Result<LimitsFile> parsed = ParseLimitsFile(bad.text);
    ASSERT_FALSE(parsed.ok()) << bad.text;
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(parsed.status().message().find(bad.message_part), std::string::npos)
        << "expected \"" << bad.message_part << "\" in: " << parsed.status().message();
  }
}

TEST(LimitsFile, MoreGpusThanAnAllocationHoldsAreRefused) {
  std::string text = "version 1\n";
  for (int i = 0; i <= kMaxAllocatedGpus; ++i) {
    text += "gpu GPU-" + std::to_string(1000 + i) + " memory 1 compute 100\n";
  }
  Result<LimitsFile> parsed = ParseLimitsFile(text);
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.status().message().find("more than " + std::to_string(kMaxAllocatedGpus)),
            std::string::npos);
}

TEST(LimitsFile, ValidateRefusesWhatCouldNotBeReadBack) {
  LimitsFile limits = TwoGpus();
  limits.gpus[1].uuid = kUuidA;
  EXPECT_NE(ValidateLimitsFile(limits).message().find("named twice"), std::string::npos);
  limits = TwoGpus();
  limits.region_path = "/var/run/with space";
  EXPECT_FALSE(ValidateLimitsFile(limits).ok());
  limits = TwoGpus();
  limits.gpus[0].compute_percent = 0;
  EXPECT_FALSE(ValidateLimitsFile(limits).ok());
  limits = TwoGpus();
  limits.gpus[0].memory_bytes = kMaxMemoryLimitBytes + 1;
  EXPECT_FALSE(ValidateLimitsFile(limits).ok());
  EXPECT_FALSE(ValidateLimitsFile(LimitsFile{}).ok());
}

TEST(ValidateGpuUuid, AcceptsNvmlUuidsOnly) {
  EXPECT_TRUE(ValidateGpuUuid(kUuidA).ok());
  EXPECT_FALSE(ValidateGpuUuid("GPU-").ok());
  EXPECT_FALSE(ValidateGpuUuid("MIG-0a1b").ok());
  EXPECT_FALSE(ValidateGpuUuid("GPU-a b").ok());
  EXPECT_FALSE(ValidateGpuUuid("GPU-" + std::string(92, 'a')).ok());
  EXPECT_TRUE(ValidateGpuUuid("GPU-" + std::string(91, 'a')).ok());
}

// Seeded mutations of a valid file: the parser answers every one with limits or an error, and
// whatever it accepts is something the plugin could have written.
TEST(LimitsFile, SurvivesMutatedFiles) {
  ::gpuslice::testing::TextMutator mutator(20261116,
                                           "version gpu memory compute region 0129-#\n\t/");
  const std::string valid = FormatLimitsFile(TwoGpus());
  int accepted = 0;
  for (int round = 0; round < 5000; ++round) {
    Result<LimitsFile> parsed = ParseLimitsFile(mutator.Mutate(valid, 4));
    if (!parsed.ok()) {
      EXPECT_FALSE(parsed.status().message().empty());
      continue;
    }
    ++accepted;
    EXPECT_TRUE(ValidateLimitsFile(*parsed).ok()) << ValidateLimitsFile(*parsed).message();
    const std::string again = FormatLimitsFile(*parsed);
    EXPECT_TRUE(ParseLimitsFile(again).ok()) << again;
  }
  EXPECT_GT(accepted, 0);  // some mutations (inside comments, extra spaces) stay valid
}

}  // namespace
}  // namespace gpuslice::core::contract
