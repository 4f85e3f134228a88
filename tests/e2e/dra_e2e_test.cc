// gpuslice as the DRA driver gpu.gpuslice.io on a real Kubernetes (scripts/cluster.sh): the
// chart with mode: dra on one simulated A10G (23,028 MiB, "24 GB"), claims sized in memory and
// compute placed by the real kube-scheduler's consumable-capacity bookkeeping, prepared by the
// driver through the real kubelet, injected by containerd through CDI, held to their size
// inside the containers, and seen per container and claim on the driver's /metrics.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <utility>
#include <vector>

#include "e2e/e2e_support.h"

namespace gpuslice::e2e {
namespace {

using ::testing::HasSubstr;

constexpr uint64_t kGiB = uint64_t{1} << 30;
const std::string kDraRelease = "gpuslice-dra";
const std::string kCdiDir = "/var/run/cdi";

// A ResourceClaim asking gpu.gpuslice.io for `memory` (and `compute` unless empty), and a pod
// running the probe with it.
std::string ClaimAndPod(const std::string& name, const std::string& memory,
                        const std::string& compute = "") {
  std::string requests = "            memory: " + memory + "\n";
  if (!compute.empty()) requests += "            compute: \"" + compute + "\"\n";
  return "apiVersion: resource.k8s.io/v1\nkind: ResourceClaim\nmetadata:\n  name: " + name +
         "\nspec:\n  devices:\n    requests:\n    - name: gpu\n      exactly:\n"
         "        deviceClassName: gpu.gpuslice.io\n        capacity:\n          requests:\n" +
         requests +
         "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: " + name +
         "\nspec:\n  terminationGracePeriodSeconds: 1\n  resourceClaims:\n  - name: gpu\n"
         "    resourceClaimName: " + name +
         "\n  containers:\n  - name: probe\n    image: " + kProbeImage +
         "\n    imagePullPolicy: Never\n    args: [sleep]\n    resources:\n      claims:\n"
         "      - name: gpu\n  tolerations:\n"
         "  - {key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}\n";
}

std::string DraValues() {
  std::ifstream file(kRepo + "/examples/dra/values.yaml");
  std::stringstream text;
  text << file.rdbuf();
  // The example's values, on one simulated A10G with its own simulated state, and a GPU that
  // had an XID back within 15 s.
  std::string values = text.str();
  const std::string config = "config:\n  version: v1\n";
  values.replace(values.find(config), config.size(),
                 config + "  health: {enabled: true, recoveryWindow: 15s}\n");
  return values +
         "simulate: \"1xA10G\"\nsimulateStateDir: /var/lib/gpuslice/sim-dra\nlogLevel: debug\n";
}

// Slices of gpu.gpuslice.io in the cluster.
nlohmann::json DraSlices() {
  const nlohmann::json list = KubectlJson("get resourceslices");
  nlohmann::json ours = nlohmann::json::array();
  for (const nlohmann::json& slice : list.value("items", nlohmann::json::array())) {
    if (slice["spec"].value("driver", "") == "gpu.gpuslice.io") ours.push_back(slice);
  }
  return ours;
}

std::string DriverPod() {
  const CommandResult result =
      Kubectl("-n " + kReleaseNamespace + " get pods -l app.kubernetes.io/instance=" +
              kDraRelease +
              " --field-selector=status.phase=Running -o jsonpath='{.items[0].metadata.name}'");
  return result.exit_code == 0 ? result.out : "";
}

uint64_t MemoryTotal(const std::string& ns, const std::string& pod) {
  const CommandResult info = Probe(ns, pod, "info");
  EXPECT_EQ(info.exit_code, 0) << info.Describe();
  const std::vector<nlohmann::json> gpus = JsonLines(info.out);
  EXPECT_EQ(gpus.size(), 1u) << info.out;
  return gpus.empty() ? 0 : gpus[0].value("total", uint64_t{0});
}

nlohmann::json ContainerEnv(const std::string& ns, const std::string& pod) {
  return Contract(ns, pod).value("env", nlohmann::json::object());
}

std::string ClaimUid(const std::string& ns, const std::string& name) {
  return Kubectl("-n " + ns + " get resourceclaim " + name + " -o jsonpath='{.metadata.uid}'").out;
}

// Waits for an event of pod `name` whose reason is `reason` and whose message says `text`.
bool WaitForEvent(const std::string& ns, const std::string& name, const std::string& reason,
                  const std::string& text, std::string* seen) {
  return WaitFor(
      std::chrono::seconds(120),
      [&](std::string* why) {
        const CommandResult events =
            Kubectl("-n " + ns + " get events --field-selector=involvedObject.name=" + name +
                    ",reason=" + reason + " -o jsonpath='{.items[*].message}'");
        *why = events.out;
        return events.out.find(text) != std::string::npos;
      },
      seen);
}

// The device plugin release and this one share the node's simulated GPUs and library: the
// driver runs alone. ClusterTest uninstalls this release again before device plugin tests.
class DraTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string skip = ClusterSkipReason();
    if (!skip.empty()) GTEST_SKIP() << skip;
    const CommandResult uninstalled =
        Helm("uninstall " + kRelease + " -n " + kReleaseNamespace + " --wait --ignore-not-found");
    ASSERT_EQ(uninstalled.exit_code, 0) << uninstalled.Describe();
    // The example's nodeSelector: this node is in the DRA node group.
    const CommandResult labelled =
        Kubectl("label node " + Quote(NodeName()) + " --overwrite gpuslice.io/mode=dra");
    ASSERT_EQ(labelled.exit_code, 0) << labelled.Describe();
    InstallDra();
  }

  void InstallDra() {
    const std::string values = "/tmp/gpuslice-e2e-dra-values.yaml";
    std::ofstream(values) << DraValues();
    const CommandResult helm =
        Helm("upgrade --install " + kDraRelease + " " + Quote(kRepo + "/deploy/helm/gpuslice") +
             " --namespace " + kReleaseNamespace + " --create-namespace --wait --timeout 180s -f " +
             values);
    unlink(values.c_str());
    ASSERT_EQ(helm.exit_code, 0) << helm.Describe();
    std::string why;
    ASSERT_TRUE(WaitFor(
        std::chrono::seconds(90),
        [&](std::string* seen) {
          const nlohmann::json slices = DraSlices();
          *seen = slices.dump();
          return slices.size() == 1 && slices[0]["spec"]["devices"].size() == 1;
        },
        &why))
        << "no ResourceSlice with the simulated A10G: " << why << "\n"
        << Kubectl("-n " + kReleaseNamespace + " logs -l app.kubernetes.io/instance=" +
                   kDraRelease + " --tail=40")
               .out;
  }
};

TEST_F(DraTest, SliceOffersTheGpuWithConsumableMemoryAndCompute) {
  const nlohmann::json slice = DraSlices()[0];
  EXPECT_EQ(slice["spec"]["nodeName"], NodeName());
  EXPECT_EQ(slice["spec"]["pool"]["name"], NodeName());
  const nlohmann::json& device = slice["spec"]["devices"][0];
  EXPECT_EQ(device["name"], "gpu-0");
  EXPECT_EQ(device["allowMultipleAllocations"], true);
  EXPECT_EQ(device["attributes"]["productName"]["string"], "NVIDIA A10G");
  EXPECT_EQ(device["attributes"]["family"]["string"], "ampere");
  EXPECT_TRUE(device["capacity"].contains("memory"));
  EXPECT_TRUE(device["capacity"].contains("compute"));
  const nlohmann::json device_class = KubectlJson("get deviceclass gpu.gpuslice.io");
  EXPECT_EQ(device_class["metadata"]["name"], "gpu.gpuslice.io");
}

TEST_F(DraTest, ClaimsSizedInMemoryShareTheGpuAndAreHeldToTheirSize) {
  TestNamespace ns("e2e-dra-memory");
  const std::vector<std::pair<std::string, uint64_t>> claims = {
      {"six", 6 * kGiB}, {"ten", 10 * kGiB}, {"four", 4 * kGiB}};
  for (const auto& [name, bytes] : claims) {
    Apply(ns.name(), ClaimAndPod(name, std::to_string(bytes / kGiB) + "Gi"));
  }
  for (const auto& [name, bytes] : claims) WaitRunning(ns.name(), name);
  for (const auto& [name, bytes] : claims) {
    EXPECT_EQ(MemoryTotal(ns.name(), name), bytes) << name;
    const CommandResult past = Probe(ns.name(), name, "alloc " + std::to_string(bytes + 1));
    EXPECT_EQ(past.exit_code, 3) << name << ": " << past.Describe();
    EXPECT_THAT(past.out, HasSubstr("CUDA_ERROR_OUT_OF_MEMORY"));
    const CommandResult within = Probe(ns.name(), name, "alloc " + std::to_string(bytes / 2));
    EXPECT_EQ(within.exit_code, 0) << name << ": " << within.Describe();
  }
  // The three are on the one GPU, each a share of it.
  const nlohmann::json six = KubectlJson("-n " + ns.name() + " get resourceclaim six");
  EXPECT_EQ(six["status"]["allocation"]["devices"]["results"][0]["device"], "gpu-0");
  EXPECT_TRUE(six["status"]["allocation"]["devices"]["results"][0].contains("shareID"));

  // 20 GiB of 22.5 are taken: 5 more do not fit, and kube-scheduler says so.
  Apply(ns.name(), ClaimAndPod("five", "5Gi"));
  std::string seen;
  EXPECT_TRUE(WaitForEvent(ns.name(), "five", "FailedScheduling", "cannot allocate all claims",
                           &seen))
      << "events of pod five: " << seen;
  EXPECT_EQ(Kubectl("-n " + ns.name() + " get pod five -o jsonpath='{.status.phase}'").out,
            "Pending");
  // Only the pod is deleted: its claim, reserved for no pod any more, is deallocated by
  // kube-controller-manager's resourceclaim controller, which frees its 10 GiB.
  const CommandResult deleted = Kubectl("-n " + ns.name() + " delete pod ten --wait=true");
  ASSERT_EQ(deleted.exit_code, 0) << deleted.Describe();
  WaitRunning(ns.name(), "five", std::chrono::seconds(180));
  EXPECT_EQ(MemoryTotal(ns.name(), "five"), 5 * kGiB);
  const nlohmann::json ten = KubectlJson("-n " + ns.name() + " get resourceclaim ten");
  EXPECT_EQ(ten["metadata"]["name"], "ten") << "the claim outlives its pod";
  EXPECT_FALSE(ten.value("status", nlohmann::json::object()).contains("allocation"))
      << ten.dump();
}

TEST_F(DraTest, ComputeSharesReachTheContainers) {
  TestNamespace ns("e2e-dra-compute");
  Apply(ns.name(), ClaimAndPod("thirty", "2Gi", "30"));
  Apply(ns.name(), ClaimAndPod("seventy", "2Gi", "70"));
  WaitRunning(ns.name(), "thirty");
  WaitRunning(ns.name(), "seventy");
  const nlohmann::json thirty = ContainerEnv(ns.name(), "thirty");
  const nlohmann::json seventy = ContainerEnv(ns.name(), "seventy");
  EXPECT_EQ(thirty.value("GPUSLICE_COMPUTE_LIMIT_0", ""), "30");
  EXPECT_EQ(seventy.value("GPUSLICE_COMPUTE_LIMIT_0", ""), "70");
  EXPECT_EQ(thirty.value("GPUSLICE_MEMORY_LIMIT_0", ""), std::to_string(2 * kGiB));
  EXPECT_EQ(thirty.value("NVIDIA_VISIBLE_DEVICES", ""),
            seventy.value("NVIDIA_VISIBLE_DEVICES", ""));
  // The limits file the library trusts (the environment only confirms it) holds the same
  // shares: "gpu <uuid> memory <bytes> compute <percent>".
  for (const auto& [pod, percent] : {std::pair{"thirty", "30"}, std::pair{"seventy", "70"}}) {
    const std::string limits = Contract(ns.name(), pod).value("limits", "");
    std::vector<std::string> gpus;
    std::istringstream lines(limits);
    for (std::string line; std::getline(lines, line);) {
      if (line.starts_with("gpu ")) gpus.push_back(line);
    }
    ASSERT_EQ(gpus.size(), 1u) << pod << ": " << limits;
    EXPECT_THAT(gpus[0], ::testing::MatchesRegex("gpu GPU-[^ ]+ memory " +
                                                 std::to_string(2 * kGiB) + " compute " + percent))
        << pod << ": " << limits;
  }
  // 100 percent is booked: one percent more waits.
  Apply(ns.name(), ClaimAndPod("one-more", "1Gi", "1"));
  std::string seen;
  EXPECT_TRUE(WaitForEvent(ns.name(), "one-more", "FailedScheduling",
                           "cannot allocate all claims", &seen))
      << seen;
}

TEST_F(DraTest, ExampleDeploymentGetsSixGibibytesAndAQuarter) {
  TestNamespace ns("e2e-dra-example");
  std::ifstream file(kRepo + "/examples/dra/deployment.yaml");
  std::stringstream text;
  text << file.rdbuf();
  std::string manifest = text.str();
  const std::string image = "image: inference-image";
  ASSERT_NE(manifest.find(image), std::string::npos);
  manifest.replace(manifest.find(image), image.size(),
                   "image: " + kProbeImage + "\n        imagePullPolicy: Never\n        args: [sleep]");
  Apply(ns.name(), manifest);
  // kube-scheduler v1.37.2 counts a claim's consumed capacity twice while it writes the
  // allocation (once from its informer, once as in flight). A replica tried in that moment
  // finds the A10G full, and the claim updates that follow do not requeue it: it waits for the
  // scheduler's periodic retry of unschedulable pods, at most 5 minutes (docs/dra.md).
  std::string why;
  ASSERT_TRUE(WaitFor(
      std::chrono::seconds(330),
      [&](std::string* seen) {
        const CommandResult pods = Kubectl("-n " + ns.name() +
                                           " get pods -l app=inference "
                                           "--field-selector=status.phase=Running -o name");
        *seen = pods.out;
        return std::count(pods.out.begin(), pods.out.end(), '\n') == 3;
      },
      &why))
      << why << Kubectl("-n " + ns.name() + " get pods,resourceclaims -o wide").out
      << Kubectl("-n " + ns.name() + " get events --sort-by=.lastTimestamp").out;
  const std::string pod =
      Kubectl("-n " + ns.name() + " get pods -l app=inference -o jsonpath='{.items[0].metadata.name}'")
          .out;
  const nlohmann::json env = ContainerEnv(ns.name(), pod);
  EXPECT_EQ(env.value("GPUSLICE_MEMORY_LIMIT_0", ""), std::to_string(6 * kGiB));
  EXPECT_EQ(env.value("GPUSLICE_COMPUTE_LIMIT_0", ""), "25");
  EXPECT_EQ(MemoryTotal(ns.name(), pod), 6 * kGiB);
}

TEST_F(DraTest, DriverRestartKeepsPreparedClaimsAndLaterUnpreparesThem) {
  TestNamespace ns("e2e-dra-restart");
  Apply(ns.name(), ClaimAndPod("kept", "3Gi", "20"));
  WaitRunning(ns.name(), "kept");
  const std::string uid = ClaimUid(ns.name(), "kept");
  const std::string spec = kCdiDir + "/gpu.gpuslice.io-" + uid + ".json";
  ASSERT_EQ(access(spec.c_str(), F_OK), 0) << spec;
  const std::string slice = DraSlices()[0]["metadata"]["uid"];

  const std::string old_pod = DriverPod();
  ASSERT_FALSE(old_pod.empty());
  ASSERT_EQ(Kubectl("-n " + kReleaseNamespace + " delete pod " + old_pod + " --wait=true").exit_code,
            0);
  std::string why;
  ASSERT_TRUE(WaitFor(
      std::chrono::seconds(120),
      [&](std::string* seen) {
        const std::string pod = DriverPod();
        *seen = "driver pod '" + pod + "'";
        return !pod.empty() && pod != old_pod;
      },
      &why))
      << why;
  // Nothing changed for the running container: its share, its limits, the slice.
  EXPECT_EQ(MemoryTotal(ns.name(), "kept"), 3 * kGiB);
  EXPECT_EQ(Probe(ns.name(), "kept", "alloc " + std::to_string(3 * kGiB + 1)).exit_code, 3);
  EXPECT_EQ(access(spec.c_str(), F_OK), 0);
  ASSERT_EQ(DraSlices().size(), 1u);

  // The new driver unprepares the claim it did not prepare itself.
  ASSERT_EQ(Kubectl("-n " + ns.name() + " delete pod kept --wait=true").exit_code, 0);
  EXPECT_TRUE(WaitFor(
      std::chrono::seconds(90),
      [&](std::string* seen) {
        *seen = spec + " still exists";
        return access(spec.c_str(), F_OK) != 0;
      },
      &why))
      << why;
  EXPECT_EQ(DraSlices()[0]["metadata"]["uid"], slice) << "the slice was replaced";
}

TEST_F(DraTest, PodHoldingThreeGibibytesOfItsClaimShowsInMetrics) {
  TestNamespace ns("e2e-dra-metrics");
  const uint64_t held = 3 * kGiB;
  // The claim's pod, its probe holding 3 GiB from its start, as e2e_support's HoldingProbePod.
  std::string manifest = ClaimAndPod("held", "4Gi");
  const std::string sleep = "args: [sleep]";
  manifest.replace(manifest.find(sleep), sleep.size(),
                   "args: [hold, \"" + std::to_string(held) + "\"]");
  Apply(ns.name(), manifest);
  WaitRunning(ns.name(), "held");

  // Each scrape lists the kubelet's claims and reads the claim's region afresh. The simulated
  // context adds its own overhead, as in device plugin mode.
  const std::vector<std::string> labels = {
      "namespace=\"" + ns.name() + "\"", "pod=\"held\"", "container=\"probe\"",
      "resource=\"gpu.gpuslice.io\"", "claim=\"held\""};
  std::string metrics;
  std::string why;
  EXPECT_TRUE(WaitFor(
      std::chrono::seconds(5),
      [&](std::string* seen) {
        metrics = PluginHttp("/metrics");
        const std::optional<double> used =
            SeriesValue(metrics, "gpuslice_container_memory_used_bytes", labels);
        *seen = used ? std::to_string(*used) : "no series";
        return used && *used >= static_cast<double>(held) &&
               *used <= static_cast<double>(held + (256ULL << 20));
      },
      &why))
      << "the holder's memory is not shown: " << why << "\nthe driver's /metrics:\n" << metrics;
  EXPECT_EQ(SeriesValue(metrics, "gpuslice_container_memory_limit_bytes", labels),
            static_cast<double>(4 * kGiB));
  // The driver samples the GPU's processes every second as the device plugin does.
  EXPECT_TRUE(WaitFor(
      std::chrono::seconds(5),
      [&](std::string* seen) {
        metrics = PluginHttp("/metrics");
        const std::optional<double> used =
            SeriesValue(metrics, "gpuslice_container_compute_used_ratio", labels);
        *seen = used ? std::to_string(*used) : "no series";
        return used.has_value();
      },
      &why))
      << "no compute used for the holder: " << why << "\n" << metrics;
}

TEST_F(DraTest, BadClaimsGetAClearErrorOnTheClaimOrThePod) {
  TestNamespace ns("e2e-dra-bad");
  // No memory: refused when created, by the chart's admission policy.
  const CommandResult unsized = Kubectl(
      "-n " + ns.name() + " apply -f -",
      "apiVersion: resource.k8s.io/v1\nkind: ResourceClaimTemplate\nmetadata:\n  name: unsized\n"
      "spec:\n  spec:\n    devices:\n      requests:\n      - name: gpu\n        exactly:\n"
      "          deviceClassName: gpu.gpuslice.io\n");
  EXPECT_NE(unsized.exit_code, 0);
  EXPECT_THAT(unsized.err, HasSubstr("must name its memory"));
  for (const char* compute : {"150", "0"}) {
    const CommandResult refused =
        Kubectl("-n " + ns.name() + " apply -f -",
                ClaimAndPod("compute-" + std::string(compute), "1Gi", compute));
    EXPECT_NE(refused.exit_code, 0) << compute;
    EXPECT_THAT(refused.err, HasSubstr("a percent of the GPU, 1 to 100")) << compute;
  }

  // More memory than any GPU has: the scheduler's reason on the pod.
  Apply(ns.name(), ClaimAndPod("huge", "100Gi"));
  std::string seen;
  EXPECT_TRUE(WaitForEvent(ns.name(), "huge", "FailedScheduling", "cannot allocate all claims",
                           &seen))
      << seen;

  // A claim allocated and reserved by hand for a pod bound by hand, as another scheduler could
  // do, to a GPU this node lacks: the driver's error on the pod, from NodePrepareResources.
  // (Left to kube-scheduler v1.37.2, a claim allocated this way is never reserved: its status
  // update fails with "status.allocation: field cannot be modified once set".)
  Apply(ns.name(),
        "apiVersion: resource.k8s.io/v1\nkind: ResourceClaim\nmetadata:\n  name: ghost\nspec:\n"
        "  devices:\n    requests:\n    - name: gpu\n      exactly:\n"
        "        deviceClassName: gpu.gpuslice.io\n        capacity:\n          requests:\n"
        "            memory: 1Gi\n");
  std::string pod = ClaimAndPod("ghost", "1Gi");
  pod = pod.substr(pod.find("---\n") + 4);
  const std::string spec = "\nspec:\n";
  pod.replace(pod.find(spec), spec.size(), spec + "  nodeName: " + NodeName() + "\n");
  Apply(ns.name(), pod);
  const std::string pod_uid =
      Kubectl("-n " + ns.name() + " get pod ghost -o jsonpath='{.metadata.uid}'").out;
  ASSERT_FALSE(pod_uid.empty());
  const nlohmann::json status = {
      {"status",
       {{"allocation",
         {{"devices",
           {{"results",
             nlohmann::json::array({{{"request", "gpu"},
                                     {"driver", "gpu.gpuslice.io"},
                                     {"pool", NodeName()},
                                     {"device", "gpu-7"},
                                     {"consumedCapacity", {{"memory", "1Gi"}, {"compute", "0"}}}}})}}}}},
        {"reservedFor",
         nlohmann::json::array({{{"resource", "pods"}, {"name", "ghost"}, {"uid", pod_uid}}})}}}};
  const CommandResult patched = Kubectl("-n " + ns.name() +
                                            " patch resourceclaim ghost --subresource=status "
                                            "--type=merge -p " +
                                            Quote(status.dump()));
  ASSERT_EQ(patched.exit_code, 0) << patched.Describe();
  EXPECT_TRUE(WaitForEvent(ns.name(), "ghost", "FailedPrepareDynamicResources",
                           "this node has no device gpu-7", &seen))
      << "events of pod ghost: " << seen
      << Kubectl("-n " + ns.name() + " describe pod ghost").out;
}

// An XID on the GPU reaches the status of a pod that holds a claim on it, through the kubelet's
// DRA health stream, and taints the device in the ResourceSlice so that no new claim lands on
// it, until the GPU recovers.
TEST_F(DraTest, XidShowsInThePodsStatusAndTaintsTheDeviceUntilItRecovers) {
  TestNamespace ns("e2e-dra-health");
  Apply(ns.name(), ClaimAndPod("watched", "2Gi"));
  WaitRunning(ns.name(), "watched");
  const std::string driver = DriverPod();
  ASSERT_FALSE(driver.empty());
  auto pod_health = [&] {
    return Kubectl("-n " + ns.name() +
                   " get pod watched -o "
                   "jsonpath='{.status.containerStatuses[0].allocatedResourcesStatus}'")
        .out;
  };
  auto tainted = [] {
    return DraSlices().dump().find("gpu.gpuslice.io/unhealthy") != std::string::npos;
  };
  EXPECT_FALSE(tainted());

  // XID 94 (contained ECC error) is critical but recoverable.
  const CommandResult xid = Kubectl("-n " + kReleaseNamespace + " exec " + driver +
                                    " -- gpuslice sim xid --state /var/lib/gpuslice/sim-dra/state "
                                    "--gpu 0 --xid 94");
  ASSERT_EQ(xid.exit_code, 0) << xid.Describe();
  std::string why;
  EXPECT_TRUE(WaitFor(
      std::chrono::seconds(60),
      [&](std::string* seen) {
        *seen = pod_health();
        return seen->find("\"Unhealthy\"") != std::string::npos;
      },
      &why))
      << "the pod's allocatedResourcesStatus does not say Unhealthy: " << why;
  EXPECT_TRUE(WaitFor(
      std::chrono::seconds(60),
      [&](std::string* seen) {
        *seen = DraSlices().dump();
        return tainted();
      },
      &why))
      << "the device is not tainted: " << why;

  EXPECT_TRUE(WaitFor(
      std::chrono::seconds(90),
      [&](std::string* seen) {
        *seen = pod_health();
        return seen->find("\"Healthy\"") != std::string::npos &&
               seen->find("\"Unhealthy\"") == std::string::npos && !tainted();
      },
      &why))
      << "the GPU did not come back after its recovery window: " << why;
}

TEST_F(DraTest, UninstallRemovesTheResourceSlices) {
  ASSERT_EQ(DraSlices().size(), 1u);
  const CommandResult uninstalled =
      Helm("uninstall " + kDraRelease + " -n " + kReleaseNamespace + " --wait");
  ASSERT_EQ(uninstalled.exit_code, 0) << uninstalled.Describe();
  std::string why;
  // The kubelet deletes a driver's slices 30 s after its plugin went away for good.
  EXPECT_TRUE(WaitFor(
      std::chrono::seconds(120),
      [&](std::string* seen) {
        const nlohmann::json slices = DraSlices();
        *seen = slices.dump();
        return slices.empty();
      },
      &why))
      << why;
  EXPECT_NE(Kubectl("get deviceclass gpu.gpuslice.io").exit_code, 0);
}

}  // namespace
}  // namespace gpuslice::e2e
