// `gpuslice plan` and `gpuslice node-sim` on pods with DRA claims (DeviceClass
// gpu.gpuslice.io) as users run them: the real binary, its table and its JSON, with the built-in
// request policy and with the policy and reservedMemory of a config given with --config.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "fakes/subprocess.h"
#include "fakes/temp_dir.h"

namespace gpuslice {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

const std::string kGpuslice = std::string(GPUSLICE_BIN_DIR) + "/gpuslice";
constexpr uint64_t kGiB = uint64_t{1} << 30;

// A Karpenter NodePool of g5 instances (A10G, 22,888 MiB in the built-in catalog).
constexpr const char* kNodePool = R"(apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: gpu}
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}
      requirements:
      - {key: karpenter.k8s.aws/instance-family, operator: In, values: [g5]}
      taints: [{key: nvidia.com/gpu, value: "true", effect: NoSchedule}]
---
)";

// `replicas` pods, each with a claim from a ResourceClaimTemplate asking gpu.gpuslice.io for
// `memory` and 10 percent of compute.
std::string DraDeployment(const std::string& name, int replicas, const std::string& memory) {
  const std::string metadata = "metadata: {name: " + name + ", namespace: ml}\n";
  return "apiVersion: resource.k8s.io/v1\nkind: ResourceClaimTemplate\n" + metadata +
         "spec:\n  spec:\n    devices:\n      requests:\n      - name: gpu\n        exactly:\n"
         "          deviceClassName: gpu.gpuslice.io\n          capacity:\n"
         "            requests: {memory: " + memory + ", compute: \"10\"}\n---\n"
         "apiVersion: apps/v1\nkind: Deployment\n" + metadata +
         "spec:\n  replicas: " + std::to_string(replicas) + "\n  template:\n    spec:\n"
         "      resourceClaims:\n      - {name: gpu, resourceClaimTemplateName: " + name + "}\n"
         "      containers:\n      - name: app\n        resources: {claims: [{name: gpu}]}\n"
         "      tolerations: [{key: nvidia.com/gpu, operator: Exists}]\n---\n";
}

// 2 GiB held back from each GPU, and claims booked in steps of 4 GiB: a 6 GiB claim books
// 8 GiB, and an A10G's capacity is 22,888 - 2,048 MiB, which holds at most 20 GiB.
constexpr const char* kConfig = R"(version: v1
defaultProfile: {reservedMemory: 2Gi}
dra:
  memory: {default: 4Gi, min: 4Gi, step: 4Gi}
)";

class DraCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ofstream(dir_.Sub("pods.yaml"))
        << kNodePool << DraDeployment("small", 5, "6Gi") << DraDeployment("big", 1, "21Gi");
    std::ofstream(dir_.Sub("config.yaml")) << kConfig;
  }

  // Runs gpuslice with `args`; returns its exit code and output (stdout and stderr).
  std::pair<int, std::string> Run(std::vector<std::string> args) {
    args.insert(args.begin(), kGpuslice);
    testing::Subprocess process(args, {}, dir_.Sub("out.txt"));
    const int code = process.Wait(120s).value_or(-1);
    return {code, process.Output()};
  }

  testing::TempDir dir_;
};

TEST_F(DraCommandTest, PlanPacksTheClaimsWithTheBuiltInPolicyWithoutAConfig) {
  const auto [code, out] = Run({"plan", dir_.Sub("pods.yaml"), "--no-optimal"});
  ASSERT_EQ(code, 0) << out;
  EXPECT_THAT(out, HasSubstr("DRA shares (DeviceClass gpu.gpuslice.io): 6 pods, 6 shares; "
                             "Karpenter cannot provision nodes for them yet."));
  // 256 MiB steps: three 6 GiB shares a GPU, and the 21 GiB one on a third GPU.
  EXPECT_THAT(out, HasSubstr("a10g (22.4 GiB): 3 GPUs for 6 shares (51.0 GiB)")) << out;
  EXPECT_THAT(out, Not(HasSubstr("too big")));

  const auto [json_code, json_out] =
      Run({"plan", dir_.Sub("pods.yaml"), "--no-optimal", "-o", "json"});
  ASSERT_EQ(json_code, 0) << json_out;
  const nlohmann::json plan = nlohmann::json::parse(json_out);
  const nlohmann::json& dra = plan["dra"];
  EXPECT_EQ(dra["deviceClass"], "gpu.gpuslice.io");
  EXPECT_EQ(dra["pods"], 6);
  EXPECT_EQ(dra["shares"], 6);
  EXPECT_EQ(dra["karpenterProvisions"], false);
  ASSERT_EQ(dra["packings"].size(), 1u);
  const nlohmann::json& a10g = dra["packings"][0];
  EXPECT_EQ(a10g["gpuModel"], "a10g");
  EXPECT_EQ(a10g["gpuMemoryBytes"], uint64_t{22888} << 20);
  EXPECT_EQ(a10g["reservedMemoryBytes"], 0);
  EXPECT_EQ(a10g["gpus"], 3);
  EXPECT_EQ(a10g["shares"], 6);
  EXPECT_EQ(a10g["memoryBytes"], 51 * kGiB);
  EXPECT_TRUE(a10g["tooBig"].empty());
  // The DRA pods are not among the pods Karpenter provisions for.
  EXPECT_EQ(plan["pods"], 0);
}

TEST_F(DraCommandTest, PlanWithAConfigPacksTheClaimsWithItsPolicyAndReservedMemory) {
  const auto [code, out] = Run({"plan", dir_.Sub("pods.yaml"), "--no-optimal", "--config",
                                dir_.Sub("config.yaml")});
  ASSERT_EQ(code, 0) << out;
  // 8 GiB booked per 6 GiB claim, two a GPU; 21 GiB books 24 GiB, more than the 20 GiB a
  // GPU holds after its reserved 2 GiB.
  EXPECT_THAT(out, HasSubstr("a10g (22.4 GiB, 2.0 GiB reserved): 3 GPUs for 5 shares "
                             "(40.0 GiB); 1 shares too big"))
      << out;

  const auto [json_code, json_out] = Run({"plan", dir_.Sub("pods.yaml"), "--no-optimal",
                                          "--config", dir_.Sub("config.yaml"), "-o", "json"});
  ASSERT_EQ(json_code, 0) << json_out;
  const nlohmann::json dra = nlohmann::json::parse(json_out)["dra"];
  EXPECT_EQ(dra["karpenterProvisions"], false);
  ASSERT_EQ(dra["packings"].size(), 1u);
  const nlohmann::json& a10g = dra["packings"][0];
  EXPECT_EQ(a10g["reservedMemoryBytes"], 2 * kGiB);
  EXPECT_EQ(a10g["gpus"], 3);
  EXPECT_EQ(a10g["shares"], 5);
  EXPECT_EQ(a10g["memoryBytes"], 40 * kGiB);
  ASSERT_EQ(a10g["tooBig"].size(), 1u);
  EXPECT_EQ(a10g["tooBig"][0]["pod"], "ml/big-0");
  EXPECT_EQ(a10g["tooBig"][0]["reason"],
            "asks for 21Gi of GPU memory; a a10g share holds at most 20Gi");
}

TEST_F(DraCommandTest, NodeSimPreparesTheClaimsWithTheConfigsPolicy) {
  if (!std::filesystem::exists(std::string(GPUSLICE_LIB_DIR) + "/libgpuslice-sim-nvml.so")) {
    GTEST_SKIP() << "the simulated NVML is not built";
  }
  // The simulated A10G has 23,028 MiB; 2 GiB reserved leaves room for two 8 GiB bookings.
  const auto [code, out] = Run({"node-sim", dir_.Sub("pods.yaml"), "--config",
                                dir_.Sub("config.yaml"), "--simulate", "2xA10G", "-o", "json"});
  ASSERT_EQ(code, 0) << out;
  const nlohmann::json report = nlohmann::json::parse(out);
  const nlohmann::json& containers = report["containers"];
  ASSERT_EQ(containers.size(), 4u) << out;
  for (size_t i = 0; i < containers.size(); ++i) {
    const nlohmann::json& container = containers[i];
    EXPECT_EQ(container["pod"], "ml/small-" + std::to_string(i));
    EXPECT_EQ(container["resourceName"], "gpu.gpuslice.io");
    ASSERT_EQ(container["gpus"].size(), 1u);
    // The limit is the booked memory: 6Gi rounded up to the config's 4 GiB steps.
    EXPECT_EQ(container["gpus"][0]["memoryLimitBytes"], 8 * kGiB);
    EXPECT_EQ(container["gpus"][0]["computePercent"], 10);
    EXPECT_EQ(container["gpus"][0]["index"], i < 2 ? 0 : 1);
  }
  const nlohmann::json& unschedulable = report["unschedulable"];
  ASSERT_EQ(unschedulable.size(), 2u) << out;
  EXPECT_EQ(unschedulable[0]["pod"], "ml/small-4");
  EXPECT_THAT(unschedulable[0]["reason"].get<std::string>(),
              HasSubstr("cannot allocate all claims: ml/small request \"gpu\" needs 8Gi of GPU "
                        "memory and 10% compute; the most memory free on one GPU is 4596Mi"));
  EXPECT_EQ(unschedulable[1]["pod"], "ml/big-0");
  EXPECT_THAT(unschedulable[1]["reason"].get<std::string>(), HasSubstr("needs 24Gi"));

  // The table, with the built-in config: 256 MiB steps, no reserve, three 6 GiB shares a GPU.
  std::ofstream(dir_.Sub("small.yaml")) << DraDeployment("small", 5, "6Gi");
  const auto [table_code, table] =
      Run({"node-sim", dir_.Sub("small.yaml"), "--simulate", "2xA10G"});
  ASSERT_EQ(table_code, 0) << table;
  EXPECT_THAT(table, HasSubstr("ml/small-2  app        gpu.gpuslice.io       0  0 NVIDIA A10G"
                               "       6.0 GiB      10%"))
      << table;
  EXPECT_THAT(table, HasSubstr("5 container(s) placed on 2 of 2 GPU(s); 0 pod(s) would not fit"));
}

}  // namespace
}  // namespace gpuslice
