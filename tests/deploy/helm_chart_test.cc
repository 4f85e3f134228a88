// Lints and renders deploy/helm/gpuslice with the real Helm, then checks what a node gets:
// the config the plugin will read (parsed by the plugin's own parser), the DaemonSet's
// placement on tainted GPU nodes, and host paths that agree with that config.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <yaml-cpp/yaml.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <utility>

#include "core/config.h"
#include "fakes/fake_clock.h"
#include "fakes/fake_gpu_backend.h"
#include "fakes/temp_dir.h"
#include "plugin/allocator.h"
#include "plugin/inventory.h"

namespace gpuslice {
namespace {

const std::string kChart = std::string(GPUSLICE_SOURCE_DIR) + "/deploy/helm/gpuslice";
// The plugin's config, as Render keys it for the release "test".
constexpr const char* kConfigMap = "ConfigMap/test-gpuslice";

struct HelmRun {
  int exit_code;
  std::string output;
};

HelmRun Helm(const std::string& arguments) {
  const std::string command = "helm " + arguments + " 2>&1";
  HelmRun run{-1, ""};
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return run;
  std::array<char, 4096> buffer{};
  size_t n = 0;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) run.output.append(buffer.data(), n);
  const int status = pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

class HelmChartTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (system("helm version >/dev/null 2>&1") != 0) {
      GTEST_SKIP() << "helm is not installed (scripts/setup.sh --test-tools installs it)";
    }
  }

  // Renders the chart and returns its documents by kind; the ConfigMaps, of which there are
  // several (the config, the Grafana dashboard), by "ConfigMap/<name>".
  std::map<std::string, YAML::Node> Render(const std::string& values_yaml = "") {
    std::string arguments = "template test " + kChart + " --namespace gpu-system";
    if (!values_yaml.empty()) {
      std::ofstream(dir_.Sub("values.yaml")) << values_yaml;
      arguments += " -f " + dir_.Sub("values.yaml");
    }
    HelmRun run = Helm(arguments);
    EXPECT_EQ(run.exit_code, 0) << run.output;
    std::map<std::string, YAML::Node> by_kind;
    for (const YAML::Node& document : YAML::LoadAll(run.output)) {
      if (!document.IsMap() || !document["kind"]) continue;
      std::string key = document["kind"].as<std::string>();
      if (key == "ConfigMap") key += "/" + document["metadata"]["name"].as<std::string>();
      by_kind[key] = document;
    }
    return by_kind;
  }

  testing::TempDir dir_;
};

// Device plugin mode on some nodes and DRA mode on others, as docs/dra.md shows: two releases,
// each kept to its nodes by nodeSelector, whose cluster-wide objects do not collide.
TEST_F(HelmChartTest, TwoReleasesInTwoModesKeepToTheirNodesAndDoNotCollide) {
  const std::set<std::string> cluster_scoped = {"ClusterRole", "ClusterRoleBinding", "DeviceClass",
                                                "ValidatingAdmissionPolicy",
                                                "ValidatingAdmissionPolicyBinding"};
  std::set<std::string> cluster_wide;
  for (const std::string mode : {"device-plugin", "dra"}) {
    const std::string release = mode == "dra" ? "gpuslice-dra" : "gpuslice";
    HelmRun run = Helm("template " + release + " " + kChart + " --namespace " + release +
                       " --set-string 'nodeSelector.gpuslice\\.io/mode=" + mode + "'" +
                       (mode == "dra" ? " --set mode=dra" : ""));
    ASSERT_EQ(run.exit_code, 0) << run.output;
    int daemonsets = 0;
    for (const YAML::Node& document : YAML::LoadAll(run.output)) {
      if (!document.IsMap() || !document["kind"]) continue;
      const std::string kind = document["kind"].as<std::string>();
      if (kind == "DaemonSet") {
        ++daemonsets;
        EXPECT_EQ(document["spec"]["template"]["spec"]["nodeSelector"]["gpuslice.io/mode"]
                      .as<std::string>(),
                  mode);
      }
      if (cluster_scoped.count(kind) != 0) {
        const std::string name = kind + "/" + document["metadata"]["name"].as<std::string>();
        EXPECT_TRUE(cluster_wide.insert(name).second) << name << " is rendered by both releases";
      }
    }
    EXPECT_EQ(daemonsets, 1) << release;
  }
  EXPECT_EQ(cluster_wide.count("DeviceClass/gpu.gpuslice.io"), 1u);
}

TEST_F(HelmChartTest, LintsClean) {
  HelmRun run = Helm("lint --strict " + kChart);
  EXPECT_EQ(run.exit_code, 0) << run.output;
}

TEST_F(HelmChartTest, DefaultConfigIsOneThePluginAccepts) {
  auto docs = Render();
  ASSERT_TRUE(docs.count(kConfigMap));
  const std::string text = docs[kConfigMap]["data"]["config.yaml"].as<std::string>();
  Result<core::Config> config = core::ParseConfig(text, "configmap");
  ASSERT_TRUE(config.ok()) << config.status().ToString() << "\n" << text;
  EXPECT_EQ(config->default_profile.resource_name, "nvidia.com/gpu");
}

TEST_F(HelmChartTest, DaemonSetRunsOnTaintedGpuNodesWithMatchingHostPaths) {
  auto docs = Render(R"(config:
  version: v1
  library: {hostDir: /opt/gs/lib}
  regionsDir: /opt/gs/regions
  profiles:
  - name: a10g
    match: {models: ["*A10G*"]}
    slices: 4
    resourceName: gpuslice.io/slice
)");
  ASSERT_TRUE(docs.count("DaemonSet"));
  Result<core::Config> config =
      core::ParseConfig(docs[kConfigMap]["data"]["config.yaml"].as<std::string>(), "configmap");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  ASSERT_EQ(config->profiles.size(), 1u);
  EXPECT_EQ(config->profiles[0].slices, 4);

  const YAML::Node spec = docs["DaemonSet"]["spec"]["template"]["spec"];
  EXPECT_EQ(spec["priorityClassName"].as<std::string>(), "system-node-critical");
  // Every effect of the GPU taint, NoExecute included, so the plugin is never evicted.
  bool tolerates_gpu_taint = false;
  for (const auto& toleration : spec["tolerations"]) {
    tolerates_gpu_taint |= toleration["key"].as<std::string>() == "nvidia.com/gpu" &&
                           toleration["operator"].as<std::string>() == "Exists" &&
                           !toleration["effect"];
  }
  EXPECT_TRUE(tolerates_gpu_taint);
  EXPECT_TRUE(spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]);
  EXPECT_EQ(spec["initContainers"][0]["name"].as<std::string>(), "install-library");
  EXPECT_NE(spec["initContainers"][0]["args"][0].as<std::string>().find("/opt/gs/lib/libgpuslice.so"),
            std::string::npos);

  std::map<std::string, std::string> host_paths;
  for (const auto& volume : spec["volumes"]) {
    if (volume["hostPath"]) host_paths[volume["name"].as<std::string>()] = volume["hostPath"]["path"].as<std::string>();
  }
  EXPECT_EQ(host_paths["library"], config->library_host_dir);
  EXPECT_EQ(host_paths["regions"], config->regions_host_dir);
  EXPECT_EQ(host_paths["device-plugins"], config->device_plugin_dir);
  // Allocate hands host paths to the kubelet, so the plugin sees them at the same paths.
  for (const auto& mount : spec["containers"][0]["volumeMounts"]) {
    const std::string name = mount["name"].as<std::string>();
    if (host_paths.count(name)) {
      EXPECT_EQ(mount["mountPath"].as<std::string>(), host_paths[name]) << name;
    }
  }
  bool has_config_flag = false;
  for (const auto& argument : spec["containers"][0]["args"]) {
    has_config_flag |= argument.as<std::string>() == "--config=/etc/gpuslice/config.yaml";
  }
  EXPECT_TRUE(has_config_flag);
}

TEST_F(HelmChartTest, RefusesAnUnsupportedConfigVersion) {
  HelmRun run = Helm("template test " + kChart + " --set config.version=v2");
  EXPECT_NE(run.exit_code, 0);
  EXPECT_NE(run.output.find("config.version: \"v2\" is not supported"), std::string::npos)
      << run.output;
}

TEST_F(HelmChartTest, MetricsCanBeTurnedOff) {
  auto docs = Render("metrics: {enabled: false}\n");
  const YAML::Node container = docs["DaemonSet"]["spec"]["template"]["spec"]["containers"][0];
  bool off = false;
  for (const auto& argument : container["args"]) {
    off |= argument.as<std::string>() == "--metrics-address=off";
  }
  EXPECT_TRUE(off);
  EXPECT_FALSE(container["ports"]);
  EXPECT_FALSE(container["livenessProbe"]);
}

TEST_F(HelmChartTest, SimulatedModeAndMetricsServiceAreOptIn) {
  auto plain = Render();
  EXPECT_FALSE(plain.count("Service"));
  auto simulated = Render("simulate: 2xH100-80GB\nmetrics: {service: {enabled: true}}\n");
  EXPECT_TRUE(simulated.count("Service"));
  bool simulate_flag = false;
  for (const auto& argument : simulated["DaemonSet"]["spec"]["template"]["spec"]["containers"][0]["args"]) {
    simulate_flag |= argument.as<std::string>() == "--simulate=2xH100-80GB";
  }
  EXPECT_TRUE(simulate_flag);
}

// The quoted strings of a CEL list literal such as "['/a', '/b']".
std::vector<std::string> CelStrings(const std::string& list) {
  std::vector<std::string> strings;
  for (size_t open = list.find('\''); open != std::string::npos;
       open = list.find('\'', list.find('\'', open + 1) + 1)) {
    const size_t close = list.find('\'', open + 1);
    if (close == std::string::npos) break;
    strings.push_back(list.substr(open + 1, close - open - 1));
  }
  return strings;
}

std::string Variable(const YAML::Node& policy, const std::string& name) {
  for (const auto& variable : policy["spec"]["variables"]) {
    if (variable["name"].as<std::string>() == name) return variable["expression"].as<std::string>();
  }
  return "";
}

bool AtOrUnder(const std::string& path, const std::string& directory) {
  return path == directory || path.rfind(directory + "/", 0) == 0;
}

// A pod's volume at a path the device plugin mounts would land on top of the plugin's mount
// (the kubelet lists pod volumes after device plugin mounts), so the chart's admission policy
// refuses such pods. Every path of a real Allocate response must be one it protects.
TEST_F(HelmChartTest, AdmissionPolicyProtectsEveryPathTheAllocateResponseMounts) {
  auto docs = Render(R"(config:
  version: v1
  profiles:
  - name: a10g
    match: {models: ["*A10G*"]}
    slices: 4
    resourceName: gpuslice.io/slice
  - name: t4
    match: {models: ["*T4"]}
    slices: 2
    injection: env
)");
  ASSERT_TRUE(docs.count("ValidatingAdmissionPolicy"));
  ASSERT_TRUE(docs.count("ValidatingAdmissionPolicyBinding"));
  const YAML::Node policy = docs["ValidatingAdmissionPolicy"];
  const YAML::Node binding = docs["ValidatingAdmissionPolicyBinding"];
  EXPECT_EQ(binding["spec"]["policyName"].as<std::string>(),
            policy["metadata"]["name"].as<std::string>());
  EXPECT_EQ(binding["spec"]["validationActions"][0].as<std::string>(), "Deny");
  EXPECT_EQ(policy["spec"]["failurePolicy"].as<std::string>(), "Fail");
  // Both resource names the plugin advertises, once each.
  EXPECT_EQ(Variable(policy, "resources"), R"(["nvidia.com/gpu","gpuslice.io/slice"])");
  const std::vector<std::string> protected_paths = CelStrings(Variable(policy, "protected"));
  ASSERT_FALSE(protected_paths.empty());

  Result<core::Config> config =
      core::ParseConfig(docs[kConfigMap]["data"]["config.yaml"].as<std::string>(), "configmap");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  const core::GpuInfo a10g = testing::MakeGpu(0, "NVIDIA A10G", 24ULL << 30);
  const core::GpuInfo t4 = testing::MakeGpu(1, "Tesla T4", 16ULL << 30);
  Result<plugin::Inventory> inventory = plugin::Inventory::Build(*config, {a10g, t4});
  ASSERT_TRUE(inventory.ok()) << inventory.status().ToString();
  std::filesystem::create_directories(dir_.Sub("lib"));
  std::ofstream(dir_.Sub("lib/libgpuslice.so")) << "library";
  ASSERT_TRUE(plugin::WritePreloadFile(dir_.Sub("lib")).ok());
  testing::FakeClock clock;
  plugin::RegionStore regions(plugin::RegionStoreOptions{dir_.Sub("regions")}, clock);
  plugin::Allocator allocator(*inventory, {}, dir_.Sub("lib"), regions);
  std::set<std::string> covered;
  for (const auto& [resource, id] :
       {std::pair<std::string, std::string>{"gpuslice.io/slice", a10g.uuid + "::0"},
        {"nvidia.com/gpu", t4.uuid + "::0"}}) {
    Result<plugin::ContainerAllocation> allocation = allocator.Allocate(resource, {id});
    ASSERT_TRUE(allocation.ok()) << allocation.status().ToString();
    for (const plugin::MountSpec& mount : allocation->mounts) {
      bool is_protected = false;
      for (const std::string& path : protected_paths) {
        if (AtOrUnder(mount.container_path, path)) {
          is_protected = true;
          covered.insert(path);
        }
      }
      EXPECT_TRUE(is_protected) << mount.container_path << " is mounted but not protected";
    }
  }
  // Nothing protected that Allocate no longer mounts, but the /run alias of /var/run.
  for (const std::string& path : protected_paths) {
    EXPECT_TRUE(covered.count(path) > 0 || path == "/run/gpuslice") << path;
  }

  EXPECT_FALSE(Render("admissionPolicy: {enabled: false}\n").count("ValidatingAdmissionPolicy"));
}

TEST_F(HelmChartTest, SchemaRefusesMisspeltKeysAndWrongTypesWithHelmsError) {
  struct Case {
    std::string arguments;
    std::string says;
  };
  const Case cases[] = {
      {"--set confg.version=v1", "Additional property confg is not allowed"},
      {"--set config.deviceListStrategy=cdi", "config.deviceListStrategy"},
      {"--set config.defaultProfile.slicez=2", "Additional property slicez is not allowed"},
      {"--set config.defaultProfile.slices=two", "config.defaultProfile.slices: Invalid type"},
      {"--set metrics.port=0", "metrics.port: Must be greater than or equal to 1"},
      {"--set failOnInitError=no", "failOnInitError: Invalid type"},
      {"--set-json 'nodeConfigs={\"big\":{\"defaultProfle\":{}}}'",
       "Additional property defaultProfle is not allowed"},
      {"--set-json 'nodeConfigs={\"a/b\":{}}'", "nodeConfigs"},
      {"--set nvidiaDriverRoot=run/nvidia/driver", "nvidiaDriverRoot"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.arguments);
    HelmRun run = Helm("template test " + kChart + " " + c.arguments);
    EXPECT_NE(run.exit_code, 0);
    EXPECT_NE(run.output.find("values don't meet the specifications of the schema"),
              std::string::npos)
        << run.output;
    EXPECT_NE(run.output.find(c.says), std::string::npos) << run.output;
  }
  // Lists of strategies are fine.
  HelmRun list =
      Helm("template test " + kChart + " --set 'config.deviceListStrategy={envvar,cdi-cri}'");
  EXPECT_EQ(list.exit_code, 0) << list.output;
}

bool HasArgument(const YAML::Node& container, const std::string& argument) {
  for (const auto& a : container["args"]) {
    if (a.as<std::string>() == argument) return true;
  }
  return false;
}

TEST_F(HelmChartTest, NodeConfigsBecomePerNodeFilesOverTheConfigWithRbacToReadTheNode) {
  auto plain = Render();
  EXPECT_FALSE(plain.count("ClusterRole"));
  ASSERT_TRUE(plain.count("ServiceAccount"));
  const YAML::Node plain_container =
      plain["DaemonSet"]["spec"]["template"]["spec"]["containers"][0];
  for (const auto& env : plain_container["env"])
    EXPECT_NE(env["name"].as<std::string>(), "NODE_NAME");

  auto docs = Render(R"(config:
  version: v1
  deviceListStrategy: cdi-cri
  profiles:
  - name: t4
    match: {models: ["*T4"]}
    slices: 2
nodeConfigs:
  h100-quarters:
    defaultProfile: {slices: 4, resourceName: gpuslice.io/quarter, distinctGpus: true}
    profiles: []
)");
  const YAML::Node data = docs[kConfigMap]["data"];
  ASSERT_TRUE(data["node-h100-quarters.yaml"]) << data;
  Result<core::Config> node =
      core::ParseConfig(data["node-h100-quarters.yaml"].as<std::string>(), "node");
  ASSERT_TRUE(node.ok()) << node.status().ToString();
  EXPECT_EQ(node->default_profile.slices, 4);
  EXPECT_TRUE(node->default_profile.distinct_gpus);
  EXPECT_TRUE(node->profiles.empty());  // lists are replaced, not merged
  // What the node config does not say comes from config.
  EXPECT_EQ(node->device_list_strategies,
            std::vector<core::DeviceListStrategy>{core::DeviceListStrategy::kCdiCri});
  Result<core::Config> base = core::ParseConfig(data["config.yaml"].as<std::string>(), "config");
  ASSERT_TRUE(base.ok()) << base.status().ToString();
  EXPECT_EQ(base->profiles.size(), 1u);
  EXPECT_EQ(base->default_profile.slices, 1);

  const YAML::Node spec = docs["DaemonSet"]["spec"]["template"]["spec"];
  EXPECT_EQ(spec["serviceAccountName"].as<std::string>(),
            docs["ServiceAccount"]["metadata"]["name"].as<std::string>());
  bool node_name = false;
  for (const auto& env : spec["containers"][0]["env"]) {
    node_name |= env["name"].as<std::string>() == "NODE_NAME" &&
                 env["valueFrom"]["fieldRef"]["fieldPath"].as<std::string>() == "spec.nodeName";
  }
  EXPECT_TRUE(node_name);
  EXPECT_TRUE(HasArgument(spec["containers"][0], "--node-config-interval=10s"));
  const YAML::Node rule = docs["ClusterRole"]["rules"][0];
  EXPECT_EQ(rule["resources"][0].as<std::string>(), "nodes");
  // The agent only reads its own Node.
  ASSERT_EQ(rule["verbs"].size(), 1u);
  EXPECT_EQ(rule["verbs"][0].as<std::string>(), "get");
  EXPECT_EQ(docs["ClusterRoleBinding"]["subjects"][0]["name"].as<std::string>(),
            spec["serviceAccountName"].as<std::string>());
  // The admission policy protects the per-node config's resource name too.
  EXPECT_NE(Variable(docs["ValidatingAdmissionPolicy"], "resources").find("gpuslice.io/quarter"),
            std::string::npos);
}

TEST_F(HelmChartTest, NvidiasKnobsReachThePod) {
  auto docs = Render(R"(failOnInitError: false
nvidiaDriverRoot: /run/nvidia/driver
securityContext: {privileged: true, allowPrivilegeEscalation: true, capabilities: null}
podSecurityContext: {runAsUser: 0}
fullnameOverride: slicer
simulate: 1xT4
)");
  ASSERT_TRUE(docs.count("DaemonSet"));
  EXPECT_EQ(docs["DaemonSet"]["metadata"]["name"].as<std::string>(), "slicer");
  const YAML::Node spec = docs["DaemonSet"]["spec"]["template"]["spec"];
  const YAML::Node container = spec["containers"][0];
  EXPECT_TRUE(HasArgument(container, "--fail-on-init-error=false"));
  EXPECT_TRUE(HasArgument(container, "--nvidia-driver-root=/driver-root"));
  EXPECT_TRUE(HasArgument(container, "--nvidia-driver-root-host=/run/nvidia/driver"));
  EXPECT_TRUE(HasArgument(container, "--cdi-spec-dir=/var/run/cdi"));
  EXPECT_TRUE(container["securityContext"]["privileged"].as<bool>());
  // Helm merges values over the defaults: null drops a default key.
  EXPECT_FALSE(container["securityContext"]["capabilities"]);
  EXPECT_EQ(spec["securityContext"]["runAsUser"].as<int>(), 0);
  std::map<std::string, std::string> host_paths;
  for (const auto& volume : spec["volumes"]) {
    if (volume["hostPath"])
      host_paths[volume["name"].as<std::string>()] = volume["hostPath"]["path"].as<std::string>();
  }
  EXPECT_EQ(host_paths["driver-root"], "/run/nvidia/driver");
  EXPECT_EQ(host_paths["cdi-specs"], "/var/run/cdi");
  bool driver_root_read_only = false;
  for (const auto& mount : container["volumeMounts"]) {
    if (mount["name"].as<std::string>() == "driver-root") {
      driver_root_read_only =
          mount["readOnly"].as<bool>() && mount["mountPath"].as<std::string>() == "/driver-root";
    }
  }
  EXPECT_TRUE(driver_root_read_only);

  auto defaults = Render("nameOverride: slices\n");
  const YAML::Node plain = defaults["DaemonSet"]["spec"]["template"]["spec"];
  EXPECT_EQ(defaults["DaemonSet"]["metadata"]["name"].as<std::string>(), "test-slices");
  EXPECT_EQ(defaults["DaemonSet"]["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"].as<std::string>(),
            "slices");
  EXPECT_TRUE(HasArgument(plain["containers"][0], "--fail-on-init-error=true"));
  EXPECT_FALSE(plain["securityContext"]);
  EXPECT_FALSE(plain["containers"][0]["securityContext"]["allowPrivilegeEscalation"].as<bool>());
}

}  // namespace
}  // namespace gpuslice
