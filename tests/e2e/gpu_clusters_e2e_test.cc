// GPU clusters as they are set up today, on the real cluster: containers given their GPUs
// through CDI (containerd resolving nvidia.com/gpu=<uuid> from the spec the agent writes for
// the simulated GPUs), per-node configs switched by relabelling the node (the agent reading its
// Node through the real API server with its service account), tensor-parallel pods on distinct
// GPUs, and the chart's schema refusing a misspelt value.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

#include "e2e/e2e_support.h"

namespace gpuslice::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// The default values with `text` added to their config block.
std::string WithConfig(const std::string& text) {
  std::string values = DefaultValues();
  const size_t at = values.find("config:\n");
  EXPECT_NE(at, std::string::npos) << values;
  values.insert(at + 8, text);
  return values;
}

// The value of metric `series` (name and labels as rendered) on the plugin, or -1.
double Metric(const std::string& series) {
  const std::string metrics = PluginHttp("/metrics");
  std::istringstream lines(metrics);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

// Removes the node's gpuslice.io/config label when the test ends, however it ends.
class NodeLabelGuard {
 public:
  ~NodeLabelGuard() { Kubectl("label node " + Quote(NodeName()) + " gpuslice.io/config-"); }
};

TEST_F(ClusterTest, CdiCriOnSimulatedGpusHoldsTheDriverApiClientToItsSlice) {
  InstallChart(WithConfig("  deviceListStrategy: cdi-cri\n"), DefaultAllocatable());
  // The agent defined the simulated GPUs' CDI devices where containerd reads CDI specs.
  const CommandResult spec = Shell("cat /var/run/cdi/gpuslice-simulated-gpus.json");
  ASSERT_EQ(spec.exit_code, 0) << spec.Describe();
  EXPECT_THAT(spec.out, HasSubstr("\"kind\": \"nvidia.com/gpu\""));

  TestNamespace ns("e2e-cdi");
  Apply(ns.name(), ProbePod("probe", "nvidia.com/gpu", 1));
  WaitRunning(ns.name(), "probe");

  const nlohmann::json contract = Contract(ns.name(), "probe");
  const nlohmann::json& env = contract["env"];
  // CDI named the GPU: the variable says void, and the device's own edit (applied by
  // containerd from the CDI spec, not by Allocate) marks the GPU the container got.
  EXPECT_EQ(env.value("NVIDIA_VISIBLE_DEVICES", ""), "void");
  std::string injected;
  for (const auto& [name, value] : env.items()) {
    if (name.rfind("GPUSLICE_SIM_CDI_GPU_", 0) == 0) injected = value.get<std::string>();
  }
  ASSERT_THAT(injected, StartsWith("GPU-")) << env.dump();
  EXPECT_EQ(env.value("GPUSLICE_SIM_STATE", ""), "/var/run/gpuslice-sim/state");
  // gpuslice's own contract still reached the container.
  EXPECT_EQ(env.value("GPUSLICE_MEMORY_LIMIT_0", ""), std::to_string(kH100Slice));
  EXPECT_EQ(contract["preload"], "/usr/local/gpuslice/lib/libgpuslice.so\n");

  // The driver the CDI spec mounted answers for exactly that GPU, held to the slice.
  const CommandResult info = Probe(ns.name(), "probe", "info");
  ASSERT_EQ(info.exit_code, 0) << info.Describe();
  const std::vector<nlohmann::json> gpus = JsonLines(info.out);
  ASSERT_EQ(gpus.size(), 1u) << info.out;
  EXPECT_EQ(gpus[0]["uuid"], injected);
  EXPECT_EQ(gpus[0]["total"], kH100Slice);
  const CommandResult too_much =
      Probe(ns.name(), "probe", "alloc " + std::to_string(kH100Slice + 1));
  EXPECT_EQ(too_much.exit_code, 3) << too_much.Describe();
  EXPECT_THAT(too_much.out, HasSubstr("CUDA_ERROR_OUT_OF_MEMORY"));
  const CommandResult fits = Probe(ns.name(), "probe", "alloc " + std::to_string(kH100Slice / 2));
  EXPECT_EQ(fits.exit_code, 0) << fits.Describe();
}

TEST_F(ClusterTest, RelabellingTheNodeSwitchesItsAdvertisedSlices) {
  NodeLabelGuard guard;
  Kubectl("label node " + Quote(NodeName()) + " gpuslice.io/config-");
  InstallChart(DefaultValues() + R"(nodeConfigInterval: 2s
nodeConfigs:
  h100-halves:
    profiles:
    - name: h100-halves
      match: {models: ["*H100*"]}
      slices: 2
      resourceName: nvidia.com/gpu
    - name: a10g-halves
      match: {models: ["*A10G*"]}
      slices: 2
      resourceName: gpuslice.io/slice
)",
               DefaultAllocatable());
  EXPECT_EQ(Metric("gpuslice_node_config{name=\"default\"}"), 1);

  const std::string node = Quote(NodeName());
  CommandResult labelled = Kubectl("label node " + node + " gpuslice.io/config=h100-halves");
  ASSERT_EQ(labelled.exit_code, 0) << labelled.Describe();
  std::string why;
  ASSERT_TRUE(WaitForAllocatable("nvidia.com/gpu", 4, &why)) << why;
  EXPECT_EQ(Allocatable("gpuslice.io/slice"), 2);
  EXPECT_EQ(Metric("gpuslice_node_config{name=\"h100-halves\"}"), 1);

  // A name the release does not have: logged, counted, and the node keeps its config.
  labelled = Kubectl("label node " + node + " --overwrite gpuslice.io/config=h100-eighths");
  ASSERT_EQ(labelled.exit_code, 0) << labelled.Describe();
  EXPECT_TRUE(WaitFor(
      std::chrono::seconds(60),
      [&](std::string* seen) {
        const double unknown = Metric("gpuslice_node_config_unknown{name=\"h100-eighths\"}");
        *seen = "gpuslice_node_config_unknown " + std::to_string(unknown);
        return unknown == 1;
      },
      &why))
      << why;
  EXPECT_EQ(Allocatable("nvidia.com/gpu"), 4);

  // Without the label the node serves config: again.
  labelled = Kubectl("label node " + node + " gpuslice.io/config-");
  ASSERT_EQ(labelled.exit_code, 0) << labelled.Describe();
  ASSERT_TRUE(WaitForAllocatable("nvidia.com/gpu", 8, &why)) << why;
}

TEST_F(ClusterTest, TwoSliceDistinctGpuPodSeesTwoGpusEachWithItsLimit) {
  std::string values = DefaultValues();
  const std::string h100 = "    slices: 4\n    resourceName: nvidia.com/gpu\n";
  const size_t at = values.find(h100);
  ASSERT_NE(at, std::string::npos) << values;
  values.insert(at + h100.size(), "    distinctGpus: true\n");
  InstallChart(values, DefaultAllocatable());

  TestNamespace ns("e2e-distinct");
  Apply(ns.name(), ProbePod("tp", "nvidia.com/gpu", 2));
  WaitRunning(ns.name(), "tp");
  const nlohmann::json env = Contract(ns.name(), "tp")["env"];
  const std::string visible = env.value("NVIDIA_VISIBLE_DEVICES", "");
  ASSERT_NE(visible.find(','), std::string::npos) << visible;
  EXPECT_EQ(env.value("GPUSLICE_MEMORY_LIMIT_0", ""), std::to_string(kH100Slice));
  EXPECT_EQ(env.value("GPUSLICE_MEMORY_LIMIT_1", ""), std::to_string(kH100Slice));
  EXPECT_EQ(env.value("GPUSLICE_COMPUTE_LIMIT_1", ""), "25");

  const CommandResult info = Probe(ns.name(), "tp", "info");
  ASSERT_EQ(info.exit_code, 0) << info.Describe();
  const std::vector<nlohmann::json> gpus = JsonLines(info.out);
  ASSERT_EQ(gpus.size(), 2u) << info.out;
  EXPECT_NE(gpus[0]["uuid"], gpus[1]["uuid"]);
  for (const nlohmann::json& gpu : gpus) EXPECT_EQ(gpu["total"], kH100Slice) << gpu.dump();
  for (const std::string gpu : {"0", "1"}) {
    const CommandResult too_much =
        Probe(ns.name(), "tp", "alloc " + std::to_string(kH100Slice + 1) + " " + gpu);
    EXPECT_EQ(too_much.exit_code, 3) << too_much.Describe();
    const CommandResult fits =
        Probe(ns.name(), "tp", "alloc " + std::to_string(kH100Slice / 2) + " " + gpu);
    EXPECT_EQ(fits.exit_code, 0) << fits.Describe();
  }
}

TEST_F(ClusterTest, HelmInstallWithAMisspeltValueFails) {
  const std::string chart = Quote(kRepo + "/deploy/helm/gpuslice");
  const CommandResult install =
      Helm("install gpuslice-typo " + chart +
           " --namespace gpuslice-typo --create-namespace --set config.defaultProfile.slicez=4");
  EXPECT_NE(install.exit_code, 0) << install.Describe();
  EXPECT_THAT(install.err, HasSubstr("values don't meet the specifications of the schema"));
  EXPECT_THAT(install.err, HasSubstr("Additional property slicez is not allowed"));
  EXPECT_NE(Helm("status gpuslice-typo --namespace gpuslice-typo").exit_code, 0);
  Kubectl("delete namespace gpuslice-typo --ignore-not-found --wait=false");

  // An upgrade of the running release with a typo changes nothing.
  const CommandResult before =
      Helm("history " + kRelease + " -n " + kReleaseNamespace + " -o json");
  const CommandResult upgrade =
      Helm("upgrade " + kRelease + " " + chart + " -n " + kReleaseNamespace +
           " --reuse-values --set deviceListStrategy=cdi-cri");
  EXPECT_NE(upgrade.exit_code, 0) << upgrade.Describe();
  EXPECT_THAT(upgrade.err, HasSubstr("Additional property deviceListStrategy is not allowed"));
  EXPECT_EQ(Helm("history " + kRelease + " -n " + kReleaseNamespace + " -o json").out, before.out);
  EXPECT_EQ(Allocatable("nvidia.com/gpu"), 8);
}

}  // namespace
}  // namespace gpuslice::e2e
