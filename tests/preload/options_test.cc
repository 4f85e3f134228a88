#include "preload/options.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "fakes/text_mutator.h"

namespace gpuslice::preload {
namespace {

namespace contract = core::contract;
using Environment = std::map<std::string, std::string>;

// The block /proc/<pid>/environ would hold for `env`.
std::string Block(const Environment& env) {
  std::string block;
  for (const auto& [name, value] : env) block += name + "=" + value + '\0';
  return block;
}

struct Parsed {
  Result<Options> options;
  std::vector<std::string> warnings;
};

Parsed Parse(const Environment& env, std::optional<std::string> file = std::nullopt) {
  std::vector<std::string> warnings;
  std::optional<std::string_view> text;
  if (file) text = *file;
  Result<Options> options = ParseOptions(Block(env), text, &warnings);
  return {std::move(options), std::move(warnings)};
}

// True when some warning holds every one of `parts`.
bool Warned(const std::vector<std::string>& warnings, std::initializer_list<std::string> parts) {
  for (const std::string& warning : warnings) {
    bool all = true;
    for (const std::string& part : parts) all = all && warning.find(part) != std::string::npos;
    if (all) return true;
  }
  return false;
}

std::string AllWarnings(const std::vector<std::string>& warnings) {
  std::string all;
  for (const std::string& warning : warnings) all += warning + "\n";
  return all;
}

constexpr const char* kUuidA = "GPU-11111111-2222-3333-4444-555555555555";
constexpr const char* kUuidB = "GPU-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
constexpr uint64_t kSlice = 10ULL << 30;
constexpr uint64_t kWholeGpu = 80ULL << 30;

// A limits file as the plugin writes it for one slice of GPU A.
std::string FileForGpuA(bool allow_disable = false) {
  contract::LimitsFile limits;
  limits.gpus = {{kUuidA, kSlice, 25}};
  limits.region_path = "/var/run/gpuslice/region";
  limits.allow_disable = allow_disable;
  return contract::FormatLimitsFile(limits);
}

TEST(ParseOptions, NoLimitsMeansNoEnforcement) {
  Parsed parsed = Parse({{"NVIDIA_VISIBLE_DEVICES", kUuidA}, {"PATH", "/bin"}});
  ASSERT_TRUE(parsed.options.ok()) << parsed.options.status().ToString();
  EXPECT_FALSE(parsed.options->enforce);
  EXPECT_EQ(parsed.options->device_count, 0);
  EXPECT_TRUE(parsed.warnings.empty());
}

TEST(ParseOptions, ReadsLimitsPerVisibleGpuInOrder) {
  Parsed parsed = Parse({{"NVIDIA_VISIBLE_DEVICES", std::string(kUuidA) + "," + kUuidB},
                         {"GPUSLICE_MEMORY_LIMIT_0", "1073741824"},
                         {"GPUSLICE_COMPUTE_LIMIT_0", "25"},
                         {"GPUSLICE_MEMORY_LIMIT_1", "2048"},
                         {"GPUSLICE_COMPUTE_LIMIT_1", "100"},
                         {"GPUSLICE_REGION", "/var/run/gpuslice/region"}});
  ASSERT_TRUE(parsed.options.ok()) << parsed.options.status().ToString();
  const Options& options = *parsed.options;
  EXPECT_TRUE(options.enforce);
  ASSERT_EQ(options.device_count, 2);
  EXPECT_EQ(options.devices[0].uuid, kUuidA);
  EXPECT_EQ(options.devices[0].memory_bytes, 1073741824u);
  EXPECT_EQ(options.devices[0].compute_percent, 25);
  EXPECT_EQ(options.devices[1].uuid, kUuidB);
  EXPECT_EQ(options.devices[1].memory_bytes, 2048u);
  EXPECT_EQ(options.region_path, "/var/run/gpuslice/region");
  EXPECT_FALSE(options.region_required);  // run by hand: a missing region is not fatal
  EXPECT_EQ(options.IndexOfUuid(kUuidB), 1);
  EXPECT_EQ(options.IndexOfUuid("GPU-unknown"), -1);
  EXPECT_EQ(options.devices[kUnlistedSlice].memory_bytes, 0u);
  EXPECT_TRUE(parsed.warnings.empty()) << AllWarnings(parsed.warnings);
}

TEST(ParseOptions, ComputeOnlyLeavesMemoryUnlimited) {
  Parsed parsed = Parse({{"GPUSLICE_COMPUTE_LIMIT_0", "50"}});
  ASSERT_TRUE(parsed.options.ok());
  EXPECT_EQ(parsed.options->devices[0].memory_bytes, UINT64_MAX);
  EXPECT_EQ(parsed.options->devices[0].uuid, "");  // no UUIDs: CUDA ordinals map to slices
  EXPECT_FALSE(parsed.options->HasUuids());
}

TEST(ParseOptions, NonUuidVisibleDevicesMapByOrdinal) {
  Parsed parsed = Parse({{"NVIDIA_VISIBLE_DEVICES", "all"}, {"GPUSLICE_MEMORY_LIMIT_0", "10"}});
  ASSERT_TRUE(parsed.options.ok());
  EXPECT_EQ(parsed.options->devices[0].uuid, "");
  EXPECT_EQ(parsed.options->device_count, 1);
}

// Issue 15, item 9: the second GPU used to get no limit at all, silently.
TEST(ParseOptions, AVisibleGpuWithoutAMemoryLimitOfItsOwnGetsZero) {
  Parsed parsed = Parse({{"NVIDIA_VISIBLE_DEVICES", std::string(kUuidA) + "," + kUuidB},
                         {"GPUSLICE_MEMORY_LIMIT_0", std::to_string(kSlice)},
                         {"GPUSLICE_COMPUTE_LIMIT_1", "50"}});
  ASSERT_TRUE(parsed.options.ok()) << parsed.options.status().ToString();
  ASSERT_EQ(parsed.options->device_count, 2);
  EXPECT_EQ(parsed.options->devices[0].memory_bytes, kSlice);
  EXPECT_EQ(parsed.options->devices[1].memory_bytes, 0u);
  EXPECT_EQ(parsed.options->devices[1].compute_percent, 50);
  ASSERT_EQ(parsed.warnings.size(), 1u) << AllWarnings(parsed.warnings);
  EXPECT_TRUE(Warned(parsed.warnings, {"GPU 1 (" + std::string(kUuidB) + ")", "zero memory limit"}))
      << AllWarnings(parsed.warnings);
}

TEST(ParseOptions, AGapInOrdinalLimitsGetsZero) {
  Parsed parsed = Parse({{"GPUSLICE_MEMORY_LIMIT_0", "10"}, {"GPUSLICE_MEMORY_LIMIT_2", "30"}});
  ASSERT_TRUE(parsed.options.ok());
  ASSERT_EQ(parsed.options->device_count, 3);
  EXPECT_EQ(parsed.options->devices[1].memory_bytes, 0u);
  EXPECT_EQ(parsed.options->devices[2].memory_bytes, 30u);
  EXPECT_TRUE(Warned(parsed.warnings, {"GPU 1 has no GPUSLICE_MEMORY_LIMIT_<i>"}))
      << AllWarnings(parsed.warnings);
}

TEST(ParseOptions, OffSwitchWinsOverEnvironmentLimits) {
  Environment env{{"GPUSLICE_DISABLE", "1"}, {"GPUSLICE_MEMORY_LIMIT_0", "10"}};
  EXPECT_FALSE(Parse(env).options->enforce);
  env["GPUSLICE_DISABLE"] = "0";
  EXPECT_TRUE(Parse(env).options->enforce);
}

TEST(ParseOptions, UnknownVariablesAreReportedNotSilentlyIgnored) {
  Parsed parsed = Parse({{"GPUSLICE_MEMORY_LIMIT_0", "10"},
                         {"GPUSLICE_DISABLED", "1"},
                         {"GPUSLICE_LOG_LEVEL", "debug"},
                         {"GPUSLICE_SIM_STATE", "/tmp/state"}});
  ASSERT_TRUE(parsed.options.ok());
  EXPECT_TRUE(parsed.options->enforce);  // a misspelt off switch leaves enforcement on
  ASSERT_EQ(parsed.warnings.size(), 1u) << AllWarnings(parsed.warnings);
  EXPECT_TRUE(Warned(parsed.warnings, {"GPUSLICE_DISABLED", "GPUSLICE_LOG_LEVEL", "ignored"}));
  EXPECT_FALSE(Warned(parsed.warnings, {"GPUSLICE_SIM_STATE"}));  // the simulated driver's
}

struct BadCase {
  Environment env;
  std::string message_part;
};

TEST(ParseOptions, MalformedValuesAndMisspeltLimitsAreErrors) {
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
      // A misspelt limit must not leave its GPU unlimited.
      {{{"GPUSLICE_MEMORY_LIMIT_00", "1"}}, "GPUSLICE_MEMORY_LIMIT_00 is not a libgpuslice"},
      {{{"GPUSLICE_MEMORY_LIMIT", "1"}}, "GPUSLICE_MEMORY_LIMIT is not a libgpuslice"},
      {{{"GPUSLICE_MEMORY_LIMITS_0", "1"}}, "GPUSLICE_MEMORY_LIMITS_0 is not"},
      {{{"GPUSLICE_COMPUTE_LIMIT_x", "1"}}, "GPUSLICE_COMPUTE_LIMIT_x is not"},
      {{{"GPUSLICE_MEMORY_LIMIT_-1", "1"}}, "GPUSLICE_MEMORY_LIMIT_-1 is not"},
      {{{"GPUSLICE_MEMORY_LIMIT_15", "1"}}, "at most 15 GPUs"},
  };
  for (const BadCase& bad : cases) {
    Parsed parsed = Parse(bad.env);
    ASSERT_FALSE(parsed.options.ok()) << bad.message_part;
    EXPECT_EQ(parsed.options.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(parsed.options.status().message().find(bad.message_part), std::string::npos)
        << parsed.options.status().message();
  }
}

TEST(ParseOptions, TheFirstOfRepeatedNamesCountsAsForGetenv) {
  using namespace std::string_literals;
  std::vector<std::string> warnings;
  Result<Options> options =
      ParseOptions("GPUSLICE_MEMORY_LIMIT_0=7\0GPUSLICE_MEMORY_LIMIT_0=9\0NOEQUALS\0=x\0"s,
                   std::nullopt, &warnings);
  ASSERT_TRUE(options.ok()) << options.status().ToString();
  EXPECT_EQ(options->devices[0].memory_bytes, 7u);
}

// Issue 16: a pod spec that sets the off switch, a whole GPU's memory, its own region and every
// GPU changes nothing where the plugin mounted a limits file.
TEST(ParseOptions, TheLimitsFileWinsOverAPodSpecsEnvironment) {
  Parsed parsed = Parse({{"NVIDIA_VISIBLE_DEVICES", "all"},
                         {"GPUSLICE_DISABLE", "1"},
                         {"GPUSLICE_MEMORY_LIMIT_0", std::to_string(kWholeGpu)},
                         {"GPUSLICE_COMPUTE_LIMIT_0", "100"},
                         {"GPUSLICE_REGION", "/tmp/mine"},
                         {"LD_PRELOAD", ""}},
                        FileForGpuA());
  ASSERT_TRUE(parsed.options.ok()) << parsed.options.status().ToString();
  const Options& options = *parsed.options;
  EXPECT_TRUE(options.enforce);
  ASSERT_EQ(options.device_count, 1);
  EXPECT_EQ(options.devices[0].uuid, kUuidA);
  EXPECT_EQ(options.devices[0].memory_bytes, kSlice);
  EXPECT_EQ(options.devices[0].compute_percent, 25);
  EXPECT_EQ(options.region_path, "/var/run/gpuslice/region");
  EXPECT_TRUE(options.region_required);
  EXPECT_EQ(options.source, contract::kContainerLimitsFile);
  const std::string all = AllWarnings(parsed.warnings);
  EXPECT_TRUE(Warned(parsed.warnings, {"GPUSLICE_DISABLE='1' is ignored", "allowDisable"})) << all;
  EXPECT_TRUE(Warned(parsed.warnings,
                     {"GPUSLICE_MEMORY_LIMIT_0='85899345920'", "GPUSLICE_COMPUTE_LIMIT_0='100'",
                      "GPUSLICE_REGION='/tmp/mine'", "come from /etc/gpuslice/limits"}))
      << all;
  EXPECT_TRUE(Warned(parsed.warnings, {"NVIDIA_VISIBLE_DEVICES='all' differs", kUuidA})) << all;
}

TEST(ParseOptions, TheFileMayAllowTheOffSwitch) {
  Parsed parsed = Parse({{"GPUSLICE_DISABLE", "1"}}, FileForGpuA(/*allow_disable=*/true));
  ASSERT_TRUE(parsed.options.ok());
  EXPECT_FALSE(parsed.options->enforce);
  EXPECT_TRUE(Warned(parsed.warnings, {"enforcement is off"}));
  // Anything but 1 leaves it on, without failing the container.
  parsed = Parse({{"GPUSLICE_DISABLE", "yes"}}, FileForGpuA(/*allow_disable=*/true));
  ASSERT_TRUE(parsed.options.ok());
  EXPECT_TRUE(parsed.options->enforce);
}

TEST(ParseOptions, ThePluginsOwnEnvironmentBesideTheFileSaysNothing) {
  Parsed parsed = Parse({{"NVIDIA_VISIBLE_DEVICES", kUuidA},
                         {"GPUSLICE_MEMORY_LIMIT_0", std::to_string(kSlice)},
                         {"GPUSLICE_COMPUTE_LIMIT_0", "25"},
                         {"GPUSLICE_REGION", "/var/run/gpuslice/region"},
                         {"GPUSLICE_SIM_STATE", "/var/run/gpuslice-sim/state"}},
                        FileForGpuA());
  ASSERT_TRUE(parsed.options.ok());
  EXPECT_TRUE(parsed.warnings.empty()) << AllWarnings(parsed.warnings);
}

TEST(ParseOptions, AnInvalidFileIsAnErrorNamingItsLine) {
  Parsed parsed = Parse({{"GPUSLICE_MEMORY_LIMIT_0", "10"}}, "version 1\nbogus\n");
  ASSERT_FALSE(parsed.options.ok());
  EXPECT_NE(parsed.options.status().message().find("/etc/gpuslice/limits: limits file line 2"),
            std::string::npos)
      << parsed.options.status().message();
  // An empty file is invalid too: it never means "no limits".
  EXPECT_FALSE(Parse({}, "").options.ok());
}

TEST(HasGpusliceVariables, IgnoresTheSimulatedDriversVariables) {
  EXPECT_TRUE(HasGpusliceVariables(Block({{"GPUSLICE_DISABLE", "0"}})));
  EXPECT_TRUE(HasGpusliceVariables(Block({{"PATH", "/bin"}, {"GPUSLICE_REGION", "/r"}})));
  EXPECT_FALSE(HasGpusliceVariables(Block({{"GPUSLICE_SIM_STATE", "/s"}, {"PATH", "/bin"}})));
  EXPECT_FALSE(HasGpusliceVariables(""));
}

TEST(FailClosedOptions, GivesEveryGpuAZeroLimit) {
  Options options = FailClosedOptions();
  EXPECT_TRUE(options.enforce);
  EXPECT_EQ(options.device_count, contract::kMaxAllocatedGpus);
  for (const DeviceLimit& device : options.devices) EXPECT_EQ(device.memory_bytes, 0u);
}

// Random mutations of valid values never crash the parser, and whatever it accepts is in range.
TEST(ParseOptions, SurvivesMutatedEnvironments) {
  ::gpuslice::testing::TextMutator mutator(20261123, "0123456789-+ ,.eExGgi%GPU\t_");
  const std::string seeds[] = {"1073741824", "50", "100", kUuidA, "all", "1", "0"};
  const std::string names[] = {"NVIDIA_VISIBLE_DEVICES",   "GPUSLICE_MEMORY_LIMIT_0",
                               "GPUSLICE_COMPUTE_LIMIT_0", "GPUSLICE_MEMORY_LIMIT_1",
                               "GPUSLICE_COMPUTE_LIMIT_1", "GPUSLICE_DISABLE"};
  for (int round = 0; round < 2000; ++round) {
    Environment env;
    for (const std::string& name : names) {
      if (mutator.Below(2) == 0) continue;
      const std::string& value = seeds[mutator.Below(std::size(seeds))];
      const std::string key = mutator.Below(8) == 0 ? mutator.Mutate(name, 2) : name;
      env[key] = mutator.Below(4) == 0 ? value : mutator.Mutate(value, 3);
    }
    const bool with_file = mutator.Below(3) == 0;
    Parsed parsed = with_file ? Parse(env, mutator.Mutate(FileForGpuA(), 3)) : Parse(env);
    if (!parsed.options.ok()) continue;
    const Options& options = *parsed.options;
    EXPECT_LE(options.device_count, contract::kMaxAllocatedGpus);
    EXPECT_EQ(options.devices[kUnlistedSlice].memory_bytes, 0u);
    for (int i = 0; i < options.device_count; ++i) {
      EXPECT_GE(options.devices[i].compute_percent, 1);
      EXPECT_LE(options.devices[i].compute_percent, 100);
    }
  }
}

}  // namespace
}  // namespace gpuslice::preload
