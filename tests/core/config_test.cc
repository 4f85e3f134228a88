#include "core/config.h"

#include <gtest/gtest.h>

namespace gpuslice::core {
namespace {

constexpr uint64_t kGiB = uint64_t{1} << 30;

constexpr const char* kFullConfig = R"(version: v1
devicePluginDir: /var/lib/kubelet/device-plugins
allocationPolicy: spread
health:
  enabled: true
  ignoredXids: [74, 79]
  resetRequiredXids: [92]
  recoveryWindow: 90s
library:
  hostDir: /opt/gpuslice/lib
regionsDir: /opt/gpuslice/regions
defaultProfile:
  slices: 2
  resourceName: nvidia.com/gpu
profiles:
- name: h100-quarters
  match:
    models: ["*H100*"]
  slices: 4
  reservedMemory: 1Gi
  resourceName: gpuslice.io/slice
  enforceCompute: false
  injection: env
  allowDisable: true
- name: first-two
  match:
    indices: [0, 1]
  slices: 1
)";

TEST(ParseConfig, ReadsEveryField) {
  Result<Config> config = ParseConfig(kFullConfig, "config.yaml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->device_plugin_dir, "/var/lib/kubelet/device-plugins");
  EXPECT_EQ(config->allocation_policy, AllocationPolicy::kSpread);
  EXPECT_TRUE(config->health.enabled);
  EXPECT_EQ(config->health.extra_ignored_xids, (std::vector<int>{74, 79}));
  EXPECT_EQ(config->health.extra_reset_required_xids, (std::vector<int>{92}));
  EXPECT_EQ(config->health.recovery_window, std::chrono::seconds(90));
  EXPECT_EQ(config->library_host_dir, "/opt/gpuslice/lib");
  EXPECT_EQ(config->regions_host_dir, "/opt/gpuslice/regions");
  EXPECT_EQ(config->default_profile.slices, 2);
  ASSERT_EQ(config->profiles.size(), 2u);
  const SlicingProfile& h100 = config->profiles[0];
  EXPECT_EQ(h100.name, "h100-quarters");
  EXPECT_EQ(h100.match.models, (std::vector<std::string>{"*H100*"}));
  EXPECT_EQ(h100.slices, 4);
  EXPECT_EQ(h100.reserved_memory_bytes, kGiB);
  EXPECT_EQ(h100.resource_name, "gpuslice.io/slice");
  EXPECT_FALSE(h100.enforce_compute);
  EXPECT_EQ(h100.injection, LibraryInjection::kEnv);
  EXPECT_TRUE(h100.allow_disable);
  EXPECT_FALSE(config->profiles[1].allow_disable);
  EXPECT_FALSE(config->default_profile.allow_disable);
  EXPECT_EQ(config->profiles[1].match.indices, (std::vector<int>{0, 1}));
  EXPECT_EQ(config->profiles[1].resource_name, "nvidia.com/gpu");
}

TEST(ParseConfig, MinimalConfigGetsDefaults) {
  Result<Config> config = ParseConfig("version: v1\n", "c.yaml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->allocation_policy, AllocationPolicy::kPacked);
  EXPECT_EQ(config->default_profile.slices, 1);
  EXPECT_EQ(config->default_profile.resource_name, "nvidia.com/gpu");
  EXPECT_TRUE(config->default_profile.enforce_compute);
  // A tenant's pod spec must not be able to switch enforcement off unless the operator says so.
  EXPECT_FALSE(config->default_profile.allow_disable);
  EXPECT_EQ(config->health.recovery_window, std::chrono::minutes(5));
  EXPECT_TRUE(config->profiles.empty());
}

struct BadConfig {
  const char* yaml;
  const char* expected;  // substring of the error, which always starts with the file name
};

TEST(ParseConfig, ErrorsNameFileLineFieldAndValue) {
  const BadConfig cases[] = {
      {"", "c.yaml: the config is empty"},
      {"slices: 2\n", "c.yaml:1:1: slices: unknown field"},
      {"devicePluginDir: /x\n", "c.yaml:1:1: version: is required"},
      {"version: v2\n", "c.yaml:1:10: version: \"v2\" is not supported"},
      {"version: v1\nallocationPolicy: tight\n",
       "c.yaml:2:19: allocationPolicy: \"tight\" is not one of packed, spread"},
      {"version: v1\ndevicePluginDir: relative/dir\n",
       "c.yaml:2:18: devicePluginDir: \"relative/dir\" must be an absolute path"},
      {"version: v1\nprofiles:\n- name: a\n  match: {models: [x]}\n  slices: 0\n",
       "c.yaml:5:11: profiles[0].slices: 0 is out of range (1-64)"},
      {"version: v1\nprofiles:\n- name: a\n  match: {models: [x]}\n  slices: two\n",
       "c.yaml:5:11: profiles[0].slices: \"two\" is not an integer"},
      {"version: v1\nprofiles:\n- name: a\n  match: {models: [x]}\n  slicez: 2\n",
       "c.yaml:5:3: profiles[0].slicez: unknown field"},
      {"version: v1\nprofiles:\n- name: a\n  slices: 2\n", "profiles[0].match: is required"},
      {"version: v1\nprofiles:\n- match: {models: [x]}\n", "profiles[0].name: is required"},
      {"version: v1\nprofiles:\n- name: a\n  match: {models: [x], indices: [1]}\n",
       "profiles[0].match: give exactly one of models, indices or uuids"},
      {"version: v1\nprofiles:\n- name: a\n  match: {indices: [-1]}\n",
       "profiles[0].match.indices[0]: -1 is out of range"},
      {"version: v1\nprofiles:\n- name: a\n  match: {models: []}\n",
       "profiles[0].match.models: expected a non-empty list"},
      {"version: v1\nprofiles:\n- name: a\n  match: {models: [x]}\n  reservedMemory: 1Gb\n",
       "profiles[0].reservedMemory: quantity \"1Gb\" is invalid"},
      {"version: v1\nprofiles:\n- name: a\n  match: {models: [x]}\n  reservedMemory: -1Gi\n",
       "profiles[0].reservedMemory: \"-1Gi\" must not be negative"},
      {"version: v1\nprofiles:\n- name: a\n  match: {models: [x]}\n  resourceName: gpu\n",
       "profiles[0].resourceName: resource name \"gpu\" is invalid"},
      {"version: v1\nprofiles:\n- name: a\n  match: {models: [x]}\n  injection: ld\n",
       "profiles[0].injection: \"ld\" is not one of preload, env"},
      {"version: v1\nprofiles:\n- name: a\n  match: {models: [x]}\n  allowDisable: sometimes\n",
       "c.yaml:5:17: profiles[0].allowDisable: expected true or false"},
      {"version: v1\ndefaultProfile:\n  allowDisable: [true]\n",
       "defaultProfile.allowDisable: expected true or false"},
      {"version: v1\nprofiles:\n- name: Big\n  match: {models: [x]}\n",
       "profiles[0].name: \"Big\" must be 1-63 lower-case"},
      {"version: v1\nprofiles:\n- name: a\n  match: {indices: [0]}\n- name: b\n  match: {indices: "
       "[1, "
       "0]}\n",
       "c.yaml:5:3: profiles[1]: GPU index 0 is also claimed by profiles[0]"},
      {"version: v1\nprofiles:\n- name: a\n  match: {uuids: [GPU-1]}\n- name: a\n  match: {uuids: "
       "[GPU-2]}\n",
       "profiles[1]: name \"a\" is also claimed by profiles[0]"},
      {"version: v1\nhealth:\n  recoveryWindow: soon\n",
       "c.yaml:3:19: health.recoveryWindow: duration \"soon\" is invalid"},
      {"version: v1\nhealth:\n  recoveryWindow: 1500ms\n",
       "c.yaml:3:19: health.recoveryWindow: \"1500ms\" is not a whole number of seconds"},
      {"version: v1\nhealth:\n  ignoredXids: [0]\n", "health.ignoredXids[0]: 0 is out of range"},
      {"version: v1\nhealth:\n  resetRequiredXids: [x]\n", "health.resetRequiredXids[0]:"},
      {"version: v1\nhealth:\n  enabled: maybe\n", "health.enabled: expected true or false"},
      {"version: v1\nprofiles: {name: a}\n", "profiles: expected a list of profiles"},
      {"version: [v1\n", "c.yaml:2:1: not valid YAML"},
      {"version: v1\ndefaultProfile:\n  slices: 2\n  slices: 64\n",
       "c.yaml:4:3: duplicate key \"slices\" (first at line 3, column 3)"},
      {"version: v1\na: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, "
       "*a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, "
       "*c, *c, *c, *c]\ne: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n",
       "aliases expand to more than"},
      {"- just\n- a list\n", "c.yaml:1:1: expected a mapping"},
  };
  for (const BadConfig& c : cases) {
    SCOPED_TRACE(c.yaml);
    Result<Config> config = ParseConfig(c.yaml, "c.yaml");
    ASSERT_FALSE(config.ok());
    EXPECT_EQ(config.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(config.status().message().find(c.expected), std::string::npos)
        << "got: " << config.status().message();
    EXPECT_EQ(config.status().message().rfind("c.yaml", 0), 0u) << config.status().message();
  }
}

TEST(FormatConfig, RoundTripsThroughParse) {
  Result<Config> config = ParseConfig(kFullConfig, "config.yaml");
  ASSERT_TRUE(config.ok());
  const std::string formatted = FormatConfig(*config);
  Result<Config> reparsed = ParseConfig(formatted, "formatted.yaml");
  ASSERT_TRUE(reparsed.ok()) << reparsed.status().ToString() << "\n" << formatted;
  EXPECT_EQ(FormatConfig(*reparsed), formatted);
  EXPECT_EQ(reparsed->profiles[0].reserved_memory_bytes, kGiB);
  EXPECT_EQ(reparsed->health.recovery_window, std::chrono::seconds(90));
  EXPECT_EQ(reparsed->health.extra_reset_required_xids, (std::vector<int>{92}));
  EXPECT_TRUE(reparsed->profiles[0].allow_disable);
  EXPECT_FALSE(reparsed->profiles[1].allow_disable);
}

GpuInfo Gpu(int index, std::string name) {
  GpuInfo gpu;
  gpu.index = index;
  gpu.uuid = "GPU-" + std::to_string(index);
  gpu.name = std::move(name);
  return gpu;
}

TEST(AssignProfiles, UnmatchedGpusGetTheDefaultProfile) {
  Result<Config> config = ParseConfig(
      "version: v1\nprofiles:\n- name: t4\n  match: {models: ['*T4']}\n  slices: 2\n", "c.yaml");
  ASSERT_TRUE(config.ok());
  Result<std::vector<const SlicingProfile*>> assigned =
      AssignProfiles(*config, {Gpu(0, "Tesla T4"), Gpu(1, "NVIDIA A10G")});
  ASSERT_TRUE(assigned.ok());
  EXPECT_EQ((*assigned)[0]->name, "t4");
  EXPECT_EQ((*assigned)[1], &config->default_profile);
}

TEST(AssignProfiles, RejectsAGpuMatchedByTwoProfiles) {
  Result<Config> config = ParseConfig(
      "version: v1\nprofiles:\n- name: by-model\n  match: {models: ['*T4']}\n- name: by-index\n"
      "  match: {indices: [0]}\n",
      "c.yaml");
  ASSERT_TRUE(config.ok());
  Result<std::vector<const SlicingProfile*>> assigned = AssignProfiles(*config, {Gpu(0, "Tesla T4")});
  ASSERT_FALSE(assigned.ok());
  EXPECT_NE(assigned.status().message().find("GPU 0 (GPU-0, \"Tesla T4\") is matched by both "
                                             "profile \"by-model\" and profile \"by-index\""),
            std::string::npos)
      << assigned.status().message();
}

TEST(ValidateConfig, ChecksConfigsBuiltInCode) {
  Config config;
  EXPECT_TRUE(ValidateConfig(config).ok());
  config.default_profile.slices = 65;
  EXPECT_FALSE(ValidateConfig(config).ok());
  config.default_profile.slices = 2;
  SlicingProfile unmatched;
  unmatched.name = "x";
  config.profiles.push_back(unmatched);
  EXPECT_NE(ValidateConfig(config).message().find("profiles[0].match"), std::string::npos);
}

TEST(ParseConfig, DeviceListStrategyIsOneNameOrAList) {
  Result<Config> plain = ParseConfig("version: v1\n", "c.yaml");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->device_list_strategies, std::vector<DeviceListStrategy>{DeviceListStrategy::kEnvvar});
  EXPECT_FALSE(plain->pass_device_specs);
  EXPECT_FALSE(plain->default_profile.distinct_gpus);

  Result<Config> one = ParseConfig("version: v1\ndeviceListStrategy: cdi-cri\n", "c.yaml");
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  EXPECT_EQ(one->device_list_strategies, std::vector<DeviceListStrategy>{DeviceListStrategy::kCdiCri});
  EXPECT_TRUE(one->UsesStrategy(DeviceListStrategy::kCdiCri));
  EXPECT_FALSE(one->UsesStrategy(DeviceListStrategy::kEnvvar));

  Result<Config> two = ParseConfig(
      "version: v1\ndeviceListStrategy: [envvar, cdi-annotations]\npassDeviceSpecs: true\n"
      "defaultProfile: {slices: 4, distinctGpus: true}\n",
      "c.yaml");
  ASSERT_TRUE(two.ok()) << two.status().ToString();
  EXPECT_EQ(two->device_list_strategies,
            (std::vector<DeviceListStrategy>{DeviceListStrategy::kEnvvar,
                                             DeviceListStrategy::kCdiAnnotations}));
  EXPECT_TRUE(two->pass_device_specs);
  EXPECT_TRUE(two->default_profile.distinct_gpus);

  Result<Config> reparsed = ParseConfig(FormatConfig(*two), "formatted.yaml");
  ASSERT_TRUE(reparsed.ok()) << reparsed.status().ToString() << "\n" << FormatConfig(*two);
  EXPECT_EQ(reparsed->device_list_strategies, two->device_list_strategies);
  EXPECT_TRUE(reparsed->pass_device_specs);
  EXPECT_TRUE(reparsed->default_profile.distinct_gpus);
}

TEST(ParseConfig, RejectsUnknownOrRepeatedStrategiesNamingThem) {
  const BadConfig cases[] = {
      {"version: v1\ndeviceListStrategy: cdi\n",
       "c.yaml:2:21: deviceListStrategy: \"cdi\" is not one of envvar, cdi-cri, cdi-annotations"},
      {"version: v1\ndeviceListStrategy: [envvar, volume-mounts]\n",
       "c.yaml:2:30: deviceListStrategy[1]: \"volume-mounts\" is not one of"},
      {"version: v1\ndeviceListStrategy: [cdi-cri, cdi-cri]\n",
       "deviceListStrategy[1]: \"cdi-cri\" is listed twice"},
      {"version: v1\ndeviceListStrategy: []\n", "deviceListStrategy: expected envvar"},
      {"version: v1\ndeviceListStrategy: {envvar: true}\n", "deviceListStrategy: expected envvar"},
      {"version: v1\npassDeviceSpecs: maybe\n", "passDeviceSpecs: expected true or false"},
      {"version: v1\nprofiles:\n- name: a\n  match: {models: [x]}\n  distinctGpus: 2\n",
       "c.yaml:5:17: profiles[0].distinctGpus: expected true or false"},
  };
  for (const BadConfig& c : cases) {
    SCOPED_TRACE(c.yaml);
    Result<Config> config = ParseConfig(c.yaml, "c.yaml");
    ASSERT_FALSE(config.ok());
    EXPECT_NE(config.status().message().find(c.expected), std::string::npos)
        << "got: " << config.status().message();
  }
  Config built;
  built.device_list_strategies.clear();
  EXPECT_NE(ValidateConfig(built).message().find("deviceListStrategy"), std::string::npos);
  built.device_list_strategies = {DeviceListStrategy::kCdiCri, DeviceListStrategy::kCdiCri};
  EXPECT_NE(ValidateConfig(built).message().find("listed twice"), std::string::npos);
}

}  // namespace
}  // namespace gpuslice::core

namespace gpuslice::core {
namespace {

TEST(ParseConfig, ReadsTheDraBlock) {
  Result<Config> config = ParseConfig(R"(version: v1
dra:
  memory: {default: 2Gi, min: 512Mi, step: 512Mi}
  compute: {default: 10}
  requireMemory: false
  nvidiaDriver: cdi
  cdiDir: /etc/cdi
  kubeletPluginsDir: /k/plugins
  kubeletRegistryDir: /k/registry
)",
                                      "dra.yaml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->dra.memory_default_bytes, 2 * kGiB);
  EXPECT_EQ(config->dra.memory_min_bytes, kGiB / 2);
  EXPECT_EQ(config->dra.memory_step_bytes, kGiB / 2);
  EXPECT_EQ(config->dra.compute_default_percent, 10);
  EXPECT_FALSE(config->dra.require_memory);
  EXPECT_EQ(config->dra.nvidia_driver, NvidiaDriverInjection::kCdi);
  EXPECT_EQ(config->dra.cdi_dir, "/etc/cdi");
  EXPECT_EQ(config->dra.kubelet_plugins_dir, "/k/plugins");
  EXPECT_EQ(config->dra.kubelet_registry_dir, "/k/registry");
  Result<Config> reparsed = ParseConfig(FormatConfig(*config), "formatted");
  ASSERT_TRUE(reparsed.ok()) << reparsed.status().ToString();
  EXPECT_EQ(FormatConfig(*reparsed), FormatConfig(*config));
}

TEST(ParseConfig, DraErrorsNameTheField) {
  const auto error = [](const std::string& dra) {
    Result<Config> config = ParseConfig("version: v1\ndra:\n" + dra, "c.yaml");
    return config.ok() ? std::string("accepted") : config.status().message();
  };
  EXPECT_NE(error("  memory: {default: 1000Mi}\n").find("dra.memory.default: 1000Mi must be min"),
            std::string::npos);
  EXPECT_NE(error("  memory: {step: 0}\n").find("min and step must be more than zero"),
            std::string::npos);
  EXPECT_NE(error("  compute: {default: 101}\n").find("dra.compute.default"), std::string::npos);
  EXPECT_NE(error("  nvidiaDriver: docker\n").find("not one of env, cdi"), std::string::npos);
  EXPECT_NE(error("  cdiDir: cdi\n").find("dra.cdiDir"), std::string::npos);
  EXPECT_NE(error("  memroy: {}\n").find("dra.memroy: unknown field"), std::string::npos);
}

}  // namespace
}  // namespace gpuslice::core
