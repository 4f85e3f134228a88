#include "preload/options.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "fakes/text_mutator.h"

namespace gpuslice::preload {
namespace {

using Environment = std::map<std::string, std::string>;

EnvLookup Lookup(const Environment& env) {
  return [&env](std::string_view name) -> std::optional<std::string> {
    auto found = env.find(std::string(name));
    if (found == env.end()) return std::nullopt;
    return found->second;
  };
}

constexpr const char* kUuidA = "GPU-11111111-2222-3333-4444-555555555555";
constexpr const char* kUuidB = "GPU-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";

TEST(ParseOptions, NoLimitsMeansNoEnforcement) {
  Environment env{{"NVIDIA_VISIBLE_DEVICES", kUuidA}};
  Result<Options> options = ParseOptions(Lookup(env));
  ASSERT_TRUE(options.ok()) << options.status().ToString();
  EXPECT_FALSE(options->enforce);
  EXPECT_EQ(options->device_count, 0);
}

TEST(ParseOptions, ReadsLimitsPerVisibleGpuInOrder) {
  Environment env{{"NVIDIA_VISIBLE_DEVICES", std::string(kUuidA) + "," + kUuidB},
                  {"GPUSLICE_MEMORY_LIMIT_0", "1073741824"},
                  {"GPUSLICE_COMPUTE_LIMIT_0", "25"},
                  {"GPUSLICE_MEMORY_LIMIT_1", "2048"},
                  {"GPUSLICE_COMPUTE_LIMIT_1", "100"},
                  {"GPUSLICE_REGION", "/var/run/gpuslice/region"}};
  Result<Options> options = ParseOptions(Lookup(env));
  ASSERT_TRUE(options.ok()) << options.status().ToString();
  EXPECT_TRUE(options->enforce);
  ASSERT_EQ(options->device_count, 2);
  EXPECT_EQ(options->devices[0].uuid, kUuidA);
  EXPECT_EQ(options->devices[0].memory_bytes, 1073741824u);
  EXPECT_EQ(options->devices[0].compute_percent, 25);
  EXPECT_EQ(options->devices[1].uuid, kUuidB);
  EXPECT_EQ(options->devices[1].memory_bytes, 2048u);
  EXPECT_EQ(options->region_path, "/var/run/gpuslice/region");
  EXPECT_EQ(options->IndexOfUuid(kUuidB), 1);
  EXPECT_EQ(options->IndexOfUuid("GPU-unknown"), -1);
}

TEST(ParseOptions, ComputeOnlyLeavesMemoryUnlimited) {
  Environment env{{"GPUSLICE_COMPUTE_LIMIT_0", "50"}};
  Result<Options> options = ParseOptions(Lookup(env));
  ASSERT_TRUE(options.ok());
  EXPECT_EQ(options->devices[0].memory_bytes, UINT64_MAX);
  EXPECT_EQ(options->devices[0].uuid, "");  // no UUIDs: CUDA ordinals map to slices
}

TEST(ParseOptions, NonUuidVisibleDevicesMapByOrdinal) {
  Environment env{{"NVIDIA_VISIBLE_DEVICES", "all"}, {"GPUSLICE_MEMORY_LIMIT_0", "10"}};
  Result<Options> options = ParseOptions(Lookup(env));
  ASSERT_TRUE(options.ok());
  EXPECT_EQ(options->devices[0].uuid, "");
}

TEST(ParseOptions, OffSwitchWinsOverLimits) {
  Environment env{{"GPUSLICE_DISABLE", "1"}, {"GPUSLICE_MEMORY_LIMIT_0", "10"}};
  Result<Options> options = ParseOptions(Lookup(env));
  ASSERT_TRUE(options.ok());
  EXPECT_FALSE(options->enforce);
  env["GPUSLICE_DISABLE"] = "0";
  EXPECT_TRUE(ParseOptions(Lookup(env))->enforce);
}

struct BadCase {
  Environment env;
  std::string message_part;
};

TEST(ParseOptions, MalformedValuesAreNamed) {
  const BadCase cases[] = {
      {{{"GPUSLICE_MEMORY_LIMIT_0", "1Gi"}}, "GPUSLICE_MEMORY_LIMIT_0='1Gi'"},
      {{{"GPUSLICE_MEMORY_LIMIT_0", "-5"}}, "GPUSLICE_MEMORY_LIMIT_0='-5'"},
      {{{"GPUSLICE_MEMORY_LIMIT_0", ""}}, "GPUSLICE_MEMORY_LIMIT_0=''"},
      {{{"GPUSLICE_MEMORY_LIMIT_0", "99999999999999999999"}}, "not a whole number"},
      {{{"GPUSLICE_COMPUTE_LIMIT_0", "0"}}, "GPUSLICE_COMPUTE_LIMIT_0='0'"},
      {{{"GPUSLICE_COMPUTE_LIMIT_0", "101"}}, "GPUSLICE_COMPUTE_LIMIT_0='101'"},
      {{{"GPUSLICE_COMPUTE_LIMIT_0", "50%"}}, "GPUSLICE_COMPUTE_LIMIT_0='50%'"},
      {{{"GPUSLICE_DISABLE", "yes"}}, "GPUSLICE_DISABLE='yes'"},
      {{{"NVIDIA_VISIBLE_DEVICES", kUuidA},
        {"GPUSLICE_MEMORY_LIMIT_0", "1"},
        {"GPUSLICE_MEMORY_LIMIT_1", "1"}},
       "names 1"},
  };
  for (const BadCase& bad : cases) {
    Result<Options> options = ParseOptions(Lookup(bad.env));
    ASSERT_FALSE(options.ok()) << bad.message_part;
    EXPECT_EQ(options.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(options.status().message().find(bad.message_part), std::string::npos)
        << options.status().message();
  }
}

TEST(ParseOptions, MoreGpusThanAContainerCanSeeIsRefused) {
  Environment env;
  for (int i = 0; i <= core::contract::kMaxVisibleGpus; ++i)
    env[core::contract::MemoryLimitEnv(i)] = "1";
  EXPECT_FALSE(ParseOptions(Lookup(env)).ok());
}

TEST(EnvironBlockLookup, FindsWholeNamesInABlock) {
  using namespace std::string_literals;
  const EnvLookup env = EnvironBlockLookup(
      "PATH=/bin\0GPUSLICE_MEMORY_LIMIT_0=4096\0GPUSLICE_MEMORY_LIMIT_01=7\0EMPTY=\0"s);
  EXPECT_EQ(env("GPUSLICE_MEMORY_LIMIT_0"), "4096");
  EXPECT_EQ(env("GPUSLICE_MEMORY_LIMIT_01"), "7");
  EXPECT_EQ(env("EMPTY"), "");
  EXPECT_EQ(env("PATH"), "/bin");
  EXPECT_EQ(env("GPUSLICE_MEMORY_LIMIT"), std::nullopt);
  EXPECT_EQ(EnvironBlockLookup("")("PATH"), std::nullopt);
  EXPECT_TRUE(HasGpusliceVariables(env));
  EXPECT_FALSE(HasGpusliceVariables(EnvironBlockLookup("PATH=/bin"s)));
}

TEST(FailClosedOptions, GivesEveryGpuAZeroLimit) {
  Options options = FailClosedOptions();
  EXPECT_TRUE(options.enforce);
  EXPECT_EQ(options.device_count, core::contract::kMaxVisibleGpus);
  for (const DeviceLimit& device : options.devices) EXPECT_EQ(device.memory_bytes, 0u);
}

// Random mutations of valid values never crash the parser, and whatever it accepts is in range.
TEST(ParseOptions, SurvivesMutatedEnvironments) {
  ::gpuslice::testing::TextMutator mutator(20261123, "0123456789-+ ,.eExGgi%GPU\t");
  const std::string seeds[] = {"1073741824", "50", "100", kUuidA, "all", "1", "0"};
  for (int round = 0; round < 2000; ++round) {
    Environment env;
    const char* names[] = {"NVIDIA_VISIBLE_DEVICES",   "GPUSLICE_MEMORY_LIMIT_0",
                           "GPUSLICE_COMPUTE_LIMIT_0", "GPUSLICE_MEMORY_LIMIT_1",
                           "GPUSLICE_COMPUTE_LIMIT_1", "GPUSLICE_DISABLE"};
    for (const char* name : names) {
      if (mutator.Below(2) == 0) continue;
      const std::string& value = seeds[mutator.Below(std::size(seeds))];
      env[name] = mutator.Below(4) == 0 ? value : mutator.Mutate(value, 3);
    }
    Result<Options> options = ParseOptions(Lookup(env));
    if (!options.ok()) continue;
    for (int i = 0; i < options->device_count; ++i) {
      EXPECT_GE(options->devices[i].compute_percent, 1);
      EXPECT_LE(options->devices[i].compute_percent, 100);
    }
  }
}

}  // namespace
}  // namespace gpuslice::preload
