// The chart with mode: dra, rendered by the real Helm: the driver's DaemonSet, its RBAC, the
// DeviceClass and the admission policy, a config the driver accepts, and its monitoring.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <fstream>
#include <set>

#include "core/config.h"
#include "fakes/temp_dir.h"

namespace gpuslice {
namespace {

const std::string kChart = std::string(GPUSLICE_SOURCE_DIR) + "/deploy/helm/gpuslice";

class HelmDraTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (system("helm version >/dev/null 2>&1") != 0) {
      GTEST_SKIP() << "helm is not installed (scripts/setup.sh --test-tools installs it)";
    }
  }

  // Runs helm template with `values_yaml`; returns its exit code and every document.
  int Render(const std::string& values_yaml, std::vector<YAML::Node>* documents,
             std::string* output) {
    std::ofstream(dir_.Sub("values.yaml")) << values_yaml;
    const std::string command = "helm template test " + kChart +
                                " --namespace gpu-system -f " + dir_.Sub("values.yaml") + " 2>&1";
    FILE* pipe = popen(command.c_str(), "r");
    if (pipe == nullptr) return -1;
    std::array<char, 4096> buffer{};
    size_t n = 0;
    while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) output->append(buffer.data(), n);
    const int status = pclose(pipe);
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (code == 0) {
      for (const YAML::Node& document : YAML::LoadAll(*output)) {
        if (document.IsMap() && document["kind"]) documents->push_back(document);
      }
    }
    return code;
  }

  static std::vector<YAML::Node> OfKind(const std::vector<YAML::Node>& documents,
                                        const std::string& kind) {
    std::vector<YAML::Node> found;
    for (const YAML::Node& document : documents) {
      if (document["kind"].as<std::string>() == kind) found.push_back(document);
    }
    return found;
  }

  testing::TempDir dir_;
};

TEST_F(HelmDraTest, DraModeRunsTheDriverWithItsSocketsAndCdiDirectory) {
  std::vector<YAML::Node> documents;
  std::string output;
  ASSERT_EQ(Render("mode: dra\nsimulate: 1xA10G\n", &documents, &output), 0) << output;
  const std::vector<YAML::Node> daemonsets = OfKind(documents, "DaemonSet");
  ASSERT_EQ(daemonsets.size(), 1u);
  const YAML::Node spec = daemonsets[0]["spec"]["template"]["spec"];
  EXPECT_EQ(spec["serviceAccountName"].as<std::string>(), "test-gpuslice");
  const YAML::Node container = spec["containers"][0];
  std::set<std::string> args;
  for (const auto& argument : container["args"]) args.insert(argument.as<std::string>());
  EXPECT_TRUE(args.count("--mode=dra"));
  EXPECT_TRUE(args.count("--simulate=1xA10G"));
  // /metrics names the containers of claims from the kubelet's PodResources listing.
  EXPECT_TRUE(args.count("--pod-resources-socket=/var/lib/kubelet/pod-resources/kubelet.sock"));
  EXPECT_TRUE(args.count("--metrics-address=:9410"));
  EXPECT_FALSE(args.count("--region-cleanup-grace=2m"));
  bool node_name = false;
  for (const auto& env : container["env"]) {
    node_name |= env["name"].as<std::string>() == "NODE_NAME" &&
                 env["valueFrom"]["fieldRef"]["fieldPath"].as<std::string>() == "spec.nodeName";
  }
  EXPECT_TRUE(node_name);
  EXPECT_EQ(container["livenessProbe"]["httpGet"]["path"].as<std::string>(), "/healthz");
  EXPECT_EQ(container["ports"][0]["containerPort"].as<int>(), 9410);

  Result<core::Config> config = core::ParseConfig(
      OfKind(documents, "ConfigMap")[0]["data"]["config.yaml"].as<std::string>(), "configmap");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  std::map<std::string, std::string> host_paths;
  for (const auto& volume : spec["volumes"]) {
    if (volume["hostPath"]) {
      host_paths[volume["name"].as<std::string>()] = volume["hostPath"]["path"].as<std::string>();
    }
  }
  EXPECT_EQ(host_paths["kubelet-plugins"], config->dra.kubelet_plugins_dir);
  EXPECT_EQ(host_paths["kubelet-registry"], config->dra.kubelet_registry_dir);
  EXPECT_EQ(host_paths["cdi"], config->dra.cdi_dir);
  EXPECT_FALSE(host_paths.count("device-plugins"));
  EXPECT_EQ(host_paths["pod-resources"], "/var/lib/kubelet/pod-resources");
  // The API server refuses a DaemonSet with two mounts at one path (the simulated GPUs' CDI
  // directory of device plugin mode is /var/run/cdi too).
  std::set<std::string> mount_paths;
  for (const auto& mount : container["volumeMounts"]) {
    const std::string name = mount["name"].as<std::string>();
    EXPECT_TRUE(mount_paths.insert(mount["mountPath"].as<std::string>()).second)
        << "two mounts at " << mount["mountPath"].as<std::string>();
    if (host_paths.count(name)) {
      EXPECT_EQ(mount["mountPath"].as<std::string>(), host_paths[name]) << name;
    }
  }
  EXPECT_TRUE(daemonsets[0]["spec"]["template"]["metadata"]["annotations"]["checksum/config"]);
}

TEST_F(HelmDraTest, RbacGrantsOnlyWhatTheDriverTouches) {
  std::vector<YAML::Node> documents;
  std::string output;
  ASSERT_EQ(Render("mode: dra\n", &documents, &output), 0) << output;
  const std::vector<YAML::Node> roles = OfKind(documents, "ClusterRole");
  ASSERT_EQ(roles.size(), 1u);
  std::map<std::string, std::set<std::string>> verbs;
  for (const auto& rule : roles[0]["rules"]) {
    for (const auto& resource : rule["resources"]) {
      for (const auto& verb : rule["verbs"]) {
        verbs[resource.as<std::string>()].insert(verb.as<std::string>());
      }
    }
  }
  EXPECT_EQ(verbs.size(), 3u);
  EXPECT_EQ(verbs["resourceclaims"], std::set<std::string>{"get"});
  EXPECT_EQ(verbs["nodes"], std::set<std::string>{"get"});
  EXPECT_EQ(verbs["resourceslices"],
            (std::set<std::string>{"get", "list", "watch", "create", "update", "delete"}));
  const std::vector<YAML::Node> bindings = OfKind(documents, "ClusterRoleBinding");
  ASSERT_EQ(bindings.size(), 1u);
  EXPECT_EQ(bindings[0]["subjects"][0]["name"].as<std::string>(), "test-gpuslice");
  EXPECT_EQ(bindings[0]["subjects"][0]["namespace"].as<std::string>(), "gpu-system");
}

TEST_F(HelmDraTest, DeviceClassAndAdmissionPolicyComeWithDraModeOnly) {
  std::vector<YAML::Node> dra;
  std::string output;
  ASSERT_EQ(Render("mode: dra\n", &dra, &output), 0) << output;
  const std::vector<YAML::Node> classes = OfKind(dra, "DeviceClass");
  ASSERT_EQ(classes.size(), 1u);
  EXPECT_EQ(classes[0]["metadata"]["name"].as<std::string>(), "gpu.gpuslice.io");
  EXPECT_EQ(classes[0]["spec"]["selectors"][0]["cel"]["expression"].as<std::string>(),
            "device.driver == \"gpu.gpuslice.io\"");
  // The claims' policies (one per kind), beside the protected-paths policy of every mode.
  const auto claim_policies = [](const std::vector<YAML::Node>& documents, const char* kind) {
    size_t count = 0;
    for (const YAML::Node& document : OfKind(documents, kind)) {
      const std::string name = document["metadata"]["name"].as<std::string>();
      count += name.find("-resourceclaim") != std::string::npos ? 1 : 0;
    }
    return count;
  };
  EXPECT_EQ(claim_policies(dra, "ValidatingAdmissionPolicy"), 2u);
  EXPECT_EQ(claim_policies(dra, "ValidatingAdmissionPolicyBinding"), 2u);
  // With the protected-paths policy of every mode and the slice-node policy.
  EXPECT_EQ(OfKind(dra, "ValidatingAdmissionPolicy").size(), 4u);

  std::vector<YAML::Node> second;
  output.clear();
  ASSERT_EQ(Render("mode: dra\ndra: {deviceClass: false, admissionPolicy: false}\n", &second,
                   &output),
            0)
      << output;
  EXPECT_TRUE(OfKind(second, "DeviceClass").empty());
  EXPECT_EQ(claim_policies(second, "ValidatingAdmissionPolicy"), 0u);

  std::vector<YAML::Node> plugin;
  output.clear();
  ASSERT_EQ(Render("mode: devicePlugin\n", &plugin, &output), 0) << output;
  EXPECT_TRUE(OfKind(plugin, "DeviceClass").empty());
  // The ServiceAccount is every mode's; the driver's ClusterRole is DRA mode's only.
  for (const YAML::Node& role : OfKind(plugin, "ClusterRole")) {
    EXPECT_NE(role["metadata"]["name"].as<std::string>(), "test-gpuslice-dra");
  }
}

// The policy's effect on a real API server is tests/deploy/dra_slice_policy_test.cc's.
TEST_F(HelmDraTest, SliceWritesAreBoundToTheCallersNodeInDraModeByDefault) {
  std::vector<YAML::Node> documents;
  std::string output;
  ASSERT_EQ(Render("mode: dra\n", &documents, &output), 0) << output;
  const auto named = [&](const char* kind) {
    std::vector<YAML::Node> found;
    for (const YAML::Node& document : OfKind(documents, kind)) {
      if (document["metadata"]["name"].as<std::string>() == "test-gpuslice-dra-slice-node") {
        found.push_back(document);
      }
    }
    return found;
  };
  const std::vector<YAML::Node> policies = named("ValidatingAdmissionPolicy");
  ASSERT_EQ(policies.size(), 1u);
  const YAML::Node spec = policies[0]["spec"];
  EXPECT_EQ(spec["failurePolicy"].as<std::string>(), "Fail");
  const YAML::Node rule = spec["matchConstraints"]["resourceRules"][0];
  EXPECT_EQ(rule["apiGroups"][0].as<std::string>(), "resource.k8s.io");
  EXPECT_EQ(rule["resources"][0].as<std::string>(), "resourceslices");
  std::set<std::string> operations;
  for (const auto& operation : rule["operations"]) operations.insert(operation.as<std::string>());
  EXPECT_EQ(operations, (std::set<std::string>{"CREATE", "UPDATE", "DELETE"}));
  // Only the driver's service account, the one the ClusterRoleBinding names, is held to it.
  ASSERT_EQ(spec["matchConditions"].size(), 1u);
  EXPECT_EQ(spec["matchConditions"][0]["expression"].as<std::string>(),
            "request.userInfo.username == 'system:serviceaccount:gpu-system:test-gpuslice'");
  std::string variables;
  for (const auto& variable : spec["variables"]) {
    variables += variable["expression"].as<std::string>() + "\n";
  }
  EXPECT_THAT(variables, ::testing::HasSubstr(
                             "request.userInfo.extra[?'authentication.kubernetes.io/node-name']"));
  EXPECT_THAT(variables, ::testing::HasSubstr("object.spec.nodeName"));
  EXPECT_THAT(variables, ::testing::HasSubstr("oldObject.spec.nodeName"));
  EXPECT_EQ(spec["validations"].size(), 3u);
  const std::vector<YAML::Node> bindings = named("ValidatingAdmissionPolicyBinding");
  ASSERT_EQ(bindings.size(), 1u);
  EXPECT_EQ(bindings[0]["spec"]["policyName"].as<std::string>(), "test-gpuslice-dra-slice-node");
  EXPECT_EQ(bindings[0]["spec"]["validationActions"][0].as<std::string>(), "Deny");

  // Off with its switch, and never in device plugin mode, where no slice is written.
  documents.clear();
  output.clear();
  ASSERT_EQ(Render("mode: dra\nadmissionPolicy: {draSliceNode: false}\n", &documents, &output), 0)
      << output;
  EXPECT_TRUE(named("ValidatingAdmissionPolicy").empty());
  EXPECT_TRUE(named("ValidatingAdmissionPolicyBinding").empty());
  documents.clear();
  output.clear();
  ASSERT_EQ(Render("mode: devicePlugin\n", &documents, &output), 0) << output;
  EXPECT_TRUE(named("ValidatingAdmissionPolicy").empty());
  // A value that is not a boolean is refused by the schema.
  documents.clear();
  output.clear();
  EXPECT_NE(Render("mode: dra\nadmissionPolicy: {draSliceNode: maybe}\n", &documents, &output), 0);
  EXPECT_THAT(output, ::testing::HasSubstr("draSliceNode"));
}

TEST_F(HelmDraTest, DraModeIsMonitoredLikeDevicePluginMode) {
  std::vector<YAML::Node> documents;
  std::string output;
  ASSERT_EQ(Render("mode: dra\n", &documents, &output), 0) << output;
  EXPECT_EQ(OfKind(documents, "Service").size(), 0u);  // without the operator's API, none
  const std::vector<YAML::Node> configmaps = OfKind(documents, "ConfigMap");
  EXPECT_EQ(std::count_if(configmaps.begin(), configmaps.end(),
                          [](const YAML::Node& map) {
                            return map["data"]["gpuslice-containers.json"].IsDefined();
                          }),
            1);

  documents.clear();
  std::ofstream(dir_.Sub("values.yaml")) << "mode: dra\n";
  const std::string command = "helm template test " + kChart +
                              " --namespace gpu-system --api-versions monitoring.coreos.com/v1 "
                              "-f " + dir_.Sub("values.yaml") + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::array<char, 4096> buffer{};
  size_t n = 0;
  output.clear();
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) output.append(buffer.data(), n);
  ASSERT_EQ(pclose(pipe), 0) << output;
  for (const YAML::Node& document : YAML::LoadAll(output)) {
    if (document.IsMap() && document["kind"]) documents.push_back(document);
  }
  const std::vector<YAML::Node> services = OfKind(documents, "Service");
  ASSERT_EQ(services.size(), 1u);
  EXPECT_EQ(services[0]["spec"]["ports"][0]["targetPort"].as<std::string>(), "metrics");
  EXPECT_EQ(OfKind(documents, "ServiceMonitor").size(), 1u);
  // Only the per-container alerts: the driver neither reslices nor serves the GPU series.
  const std::vector<YAML::Node> rules = OfKind(documents, "PrometheusRule");
  ASSERT_EQ(rules.size(), 1u);
  std::set<std::string> alerts;
  for (const auto& rule : rules[0]["spec"]["groups"][0]["rules"]) {
    alerts.insert(rule["alert"].as<std::string>());
  }
  EXPECT_EQ(alerts, (std::set<std::string>{"GpusliceContainerMemoryHigh",
                                           "GpusliceContainerOomRefusals"}));
}

TEST_F(HelmDraTest, AnUnknownModeIsRefused) {
  std::vector<YAML::Node> documents;
  std::string output;
  EXPECT_NE(Render("mode: mig\n", &documents, &output), 0);
  // values.schema.json refuses it before the templates' own check would.
  EXPECT_THAT(output,
              ::testing::HasSubstr("mode must be one of the following: \"devicePlugin\", \"dra\""));
}

}  // namespace
}  // namespace gpuslice
