// The user's journey with the device plugin on a real Kubernetes (scripts/cluster.sh): the
// chart installed by Helm on simulated GPUs, the seed's workloads scheduled by the real
// kube-scheduler, admitted by the real kubelet, run by containerd and runc, and held to their
// slices inside their containers.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "e2e/e2e_support.h"

namespace gpuslice::e2e {
namespace {

using ::testing::HasSubstr;

// The seed's Deployment (examples/gpu-example-deployment.yaml), running the probe.
std::string SeedDeployment(int replicas) {
  std::ifstream file(kRepo + "/examples/gpu-example-deployment.yaml");
  std::stringstream text;
  text << file.rdbuf();
  std::string manifest = text.str();
  const auto replace = [&](const std::string& from, const std::string& to) {
    const size_t at = manifest.find(from);
    EXPECT_NE(at, std::string::npos) << "the seed's Deployment no longer says " << from;
    if (at != std::string::npos) manifest.replace(at, from.size(), to);
  };
  replace("replicas: 1", "replicas: " + std::to_string(replicas));
  replace("image: gpu-example-image",
          "image: " + kProbeImage + "\n        imagePullPolicy: Never\n        args: [sleep]");
  return manifest;
}

int RunningPods(const std::string& ns, const std::string& selector) {
  const CommandResult pods = Kubectl("-n " + ns + " get pods -l " + selector +
                                     " --field-selector=status.phase=Running -o name");
  int count = 0;
  std::istringstream lines(pods.out);
  std::string line;
  while (std::getline(lines, line)) count += line.empty() ? 0 : 1;
  return count;
}

TEST_F(ClusterTest, DaemonSetIsReadyAndTheNodeAdvertisesExactlyTheSlices) {
  const nlohmann::json daemonset =
      KubectlJson("-n " + kReleaseNamespace + " get daemonset " + kRelease);
  EXPECT_EQ(daemonset["status"]["numberReady"], 1);
  EXPECT_EQ(Allocatable("nvidia.com/gpu"), 8);
  EXPECT_EQ(Allocatable("gpuslice.io/slice"), 2);
}

TEST_F(ClusterTest, SeedDeploymentFillsEverySliceAndOneMoreReplicaStaysPending) {
  TestNamespace ns("e2e-seed");
  Apply(ns.name(), SeedDeployment(8));
  std::string why;
  ASSERT_TRUE(WaitFor(
      std::chrono::seconds(180),
      [&](std::string* seen) {
        const int running = RunningPods(ns.name(), "app=gpu-example-app");
        *seen = std::to_string(running) + " of 8 replicas Running";
        return running == 8;
      },
      &why))
      << why << "\n"
      << Kubectl("-n " + ns.name() + " get pods -o wide").out;

  const CommandResult scaled =
      Kubectl("-n " + ns.name() + " scale deployment gpu-example-deployment --replicas=9");
  ASSERT_EQ(scaled.exit_code, 0) << scaled.Describe();
  ASSERT_TRUE(WaitFor(
      std::chrono::seconds(60),
      [&](std::string* seen) {
        const CommandResult events = Kubectl("-n " + ns.name() +
                                             " get events --field-selector=reason=FailedScheduling "
                                             "-o jsonpath='{.items[*].message}'");
        *seen = events.out;
        return events.out.find("Insufficient nvidia.com/gpu") != std::string::npos;
      },
      &why))
      << "no FailedScheduling event naming nvidia.com/gpu; events: " << why;
  EXPECT_EQ(RunningPods(ns.name(), "app=gpu-example-app"), 8);
}

TEST_F(ClusterTest, ContainerGetsTheContractAndIsHeldToItsSlice) {
  TestNamespace ns("e2e-contract");
  Apply(ns.name(), ProbePod("probe", "nvidia.com/gpu", 1));
  WaitRunning(ns.name(), "probe");

  const nlohmann::json contract = Contract(ns.name(), "probe");
  const nlohmann::json& env = contract["env"];
  EXPECT_EQ(env.value("GPUSLICE_MEMORY_LIMIT_0", ""), std::to_string(kH100Slice));
  EXPECT_EQ(env.value("GPUSLICE_COMPUTE_LIMIT_0", ""), "25");
  EXPECT_EQ(env.value("GPUSLICE_REGION", ""), "/var/run/gpuslice/region");
  EXPECT_THAT(env.value("NVIDIA_VISIBLE_DEVICES", ""), ::testing::StartsWith("GPU-"));
  EXPECT_EQ(contract["files"]["/usr/local/gpuslice/lib/libgpuslice.so"]["exists"], true);
  EXPECT_EQ(contract["files"]["/usr/local/gpuslice/lib/libgpuslice.so"]["writable"], false);
  EXPECT_EQ(contract["files"]["/var/run/gpuslice/region"]["writable"], true);
  EXPECT_EQ(contract["files"]["/etc/gpuslice/limits"]["exists"], true);
  EXPECT_EQ(contract["files"]["/etc/gpuslice/limits"]["writable"], false);
  EXPECT_EQ(contract["preload"], "/usr/local/gpuslice/lib/libgpuslice.so\n");

  const CommandResult info = Probe(ns.name(), "probe", "info");
  ASSERT_EQ(info.exit_code, 0) << info.Describe();
  const std::vector<nlohmann::json> gpus = JsonLines(info.out);
  ASSERT_EQ(gpus.size(), 1u) << info.out;
  EXPECT_EQ(gpus[0]["total"], kH100Slice);
  EXPECT_EQ(gpus[0]["uuid"], env.value("NVIDIA_VISIBLE_DEVICES", ""));

  const CommandResult too_much =
      Probe(ns.name(), "probe", "alloc " + std::to_string(kH100Slice + 1));
  EXPECT_EQ(too_much.exit_code, 3) << too_much.Describe();
  EXPECT_THAT(too_much.out, HasSubstr("CUDA_ERROR_OUT_OF_MEMORY"));
  const CommandResult fits = Probe(ns.name(), "probe", "alloc " + std::to_string(kH100Slice / 2));
  EXPECT_EQ(fits.exit_code, 0) << fits.Describe();

  // Two processes of one container share the one limit: while one holds half the slice, the
  // other cannot take more than the rest.
  const uint64_t held = kH100Slice / 2;
  const std::string holder_output = "/tmp/gpuslice-e2e-holder.out";
  const std::string holder_pid = "/tmp/gpuslice-e2e-holder.pid";
  unlink(holder_pid.c_str());
  // In a session of its own, so that killing its process group ends kubectl and its exec; the
  // shell writes its pid, which kubectl keeps, before it becomes kubectl.
  const CommandResult holder =
      Shell("setsid sh -c " +
            Quote("echo $$ >" + holder_pid + "; exec kubectl -n " + ns.name() +
                  " exec probe -- cuda-probe hold " + std::to_string(held)) +
            " >" + holder_output + " 2>&1 </dev/null &");
  ASSERT_EQ(holder.exit_code, 0) << holder.Describe();
  std::string holder_group;
  ASSERT_TRUE(WaitFor(std::chrono::seconds(10), [&](std::string* seen) {
    holder_group = Shell("cat " + holder_pid).out;
    *seen = "no pid in " + holder_pid;
    return !holder_group.empty();
  }));
  holder_group = holder_group.substr(0, holder_group.find('\n'));
  std::string why;
  const bool sharing = WaitFor(
      std::chrono::seconds(60),
      [&](std::string* seen) {
        const CommandResult rest =
            Probe(ns.name(), "probe", "alloc " + std::to_string(kH100Slice - held + 1));
        *seen = rest.out;
        return rest.exit_code == 3;
      },
      &why);
  EXPECT_TRUE(sharing) << "the second process could still allocate past the shared limit: " << why
                       << "\nthe first process said: "
                       << Shell("cat " + holder_output + " 2>&1").out;
  const CommandResult rest = Probe(ns.name(), "probe", "alloc " + std::to_string(held / 2));
  EXPECT_EQ(rest.exit_code, 0) << rest.Describe();
  Shell("kill -KILL -- -" + holder_group);
}

// What a tenant who may only write pod specs tries: turning enforcement off, raising its own
// limit to the whole GPU and emptying LD_PRELOAD. The limits come from the read-only limits
// file and the library from /etc/ld.so.preload, so none of it matters.
TEST_F(ClusterTest, PodSpecCannotWidenItsSlice) {
  TestNamespace ns("e2e-tenant");
  std::string pod = ProbePod("greedy", "nvidia.com/gpu", 1);
  pod.replace(pod.find("    args: [sleep]\n"), 18,
              "    args: [sleep]\n    env:\n    - {name: GPUSLICE_DISABLE, value: \"1\"}\n"
              "    - {name: GPUSLICE_MEMORY_LIMIT_0, value: \"" +
                  std::to_string(kH100Bytes) + "\"}\n    - {name: LD_PRELOAD, value: \"\"}\n");
  Apply(ns.name(), pod);
  WaitRunning(ns.name(), "greedy");
  const nlohmann::json contract = Contract(ns.name(), "greedy");
  EXPECT_EQ(contract["env"].value("GPUSLICE_DISABLE", ""), "1") << "the spec's env did not apply";
  const CommandResult info = Probe(ns.name(), "greedy", "info");
  ASSERT_EQ(info.exit_code, 0) << info.Describe();
  EXPECT_EQ(JsonLines(info.out).at(0)["total"], kH100Slice);
  const CommandResult too_much =
      Probe(ns.name(), "greedy", "alloc " + std::to_string(kH100Slice + 1));
  EXPECT_EQ(too_much.exit_code, 3) << too_much.Describe();
}

// A volume over the library or the limits would let the pod choose its own: the chart's
// admission policy refuses such a pod before it exists.
TEST_F(ClusterTest, PodMountingOverTheLibraryIsRefused) {
  TestNamespace ns("e2e-mount");
  std::string pod = ProbePod("sneaky", "nvidia.com/gpu", 1);
  pod.replace(pod.find("    args: [sleep]\n"), 18,
              "    args: [sleep]\n    volumeMounts:\n"
              "    - {name: mine, mountPath: /usr/local/gpuslice/lib}\n");
  pod += "  volumes:\n  - {name: mine, emptyDir: {}}\n";
  const CommandResult applied = Kubectl("-n " + ns.name() + " apply -f -", pod);
  EXPECT_NE(applied.exit_code, 0) << applied.Describe();
  EXPECT_THAT(applied.err, HasSubstr("gpuslice: a pod that gets GPU slices may not mount"));
  // The same volume one level up is allowed: the plugin's deeper mounts land on top of it.
  std::string parent = ProbePod("parent", "nvidia.com/gpu", 1);
  parent.replace(
      parent.find("    args: [sleep]\n"), 18,
      "    args: [sleep]\n    volumeMounts:\n    - {name: mine, mountPath: /usr/local}\n");
  parent += "  volumes:\n  - {name: mine, emptyDir: {}}\n";
  Apply(ns.name(), parent);
  WaitRunning(ns.name(), "parent");
  const CommandResult too_much =
      Probe(ns.name(), "parent", "alloc " + std::to_string(kH100Slice + 1));
  EXPECT_EQ(too_much.exit_code, 3) << too_much.Describe();
}

TEST_F(ClusterTest, TwoSlicesLandOnOneGpuWhenOneHoldsThem) {
  TestNamespace ns("e2e-two");
  Apply(ns.name(), ProbePod("probe", "nvidia.com/gpu", 2));
  WaitRunning(ns.name(), "probe");
  const nlohmann::json contract = Contract(ns.name(), "probe");
  const std::string visible = contract["env"].value("NVIDIA_VISIBLE_DEVICES", "");
  EXPECT_EQ(visible.find(','), std::string::npos) << visible;
  EXPECT_EQ(contract["env"].value("GPUSLICE_MEMORY_LIMIT_0", ""), std::to_string(2 * kH100Slice));
  const CommandResult info = Probe(ns.name(), "probe", "info");
  const std::vector<nlohmann::json> gpus = JsonLines(info.out);
  ASSERT_EQ(gpus.size(), 1u) << info.Describe();
  EXPECT_EQ(gpus[0]["total"], 2 * kH100Slice);
}

TEST_F(ClusterTest, KubeletRestartKeepsPodsAndTheRegistration) {
  TestNamespace ns("e2e-kubelet");
  Apply(ns.name(), ProbePod("before", "nvidia.com/gpu", 1));
  WaitRunning(ns.name(), "before");
  const nlohmann::json pod_before = KubectlJson("-n " + ns.name() + " get pod before");

  const CommandResult restart = Shell(Quote(kRepo + "/scripts/cluster.sh") + " restart kubelet");
  ASSERT_EQ(restart.exit_code, 0) << restart.Describe();

  std::string why;
  ASSERT_TRUE(WaitForAllocatable("nvidia.com/gpu", 8, &why)) << why;
  const nlohmann::json pod_after = KubectlJson("-n " + ns.name() + " get pod before");
  EXPECT_EQ(pod_after["status"]["phase"], "Running");
  EXPECT_EQ(pod_after["status"]["containerStatuses"][0]["containerID"],
            pod_before["status"]["containerStatuses"][0]["containerID"]);
  EXPECT_EQ(pod_after["status"]["containerStatuses"][0]["restartCount"], 0);

  Apply(ns.name(), ProbePod("after", "nvidia.com/gpu", 1));
  WaitRunning(ns.name(), "after");
  const CommandResult info = Probe(ns.name(), "after", "info");
  ASSERT_EQ(info.exit_code, 0) << info.Describe();
  EXPECT_EQ(JsonLines(info.out).at(0)["total"], kH100Slice);
}

TEST_F(ClusterTest, PluginPodDeletedIsRecreatedAndAllocationsSurvive) {
  TestNamespace ns("e2e-plugin-pod");
  Apply(ns.name(), ProbePod("probe", "nvidia.com/gpu", 1));
  WaitRunning(ns.name(), "probe");
  const std::string old_pod = PluginPod();
  ASSERT_FALSE(old_pod.empty());

  const CommandResult deleted =
      Kubectl("-n " + kReleaseNamespace + " delete pod " + old_pod + " --wait=true");
  ASSERT_EQ(deleted.exit_code, 0) << deleted.Describe();
  std::string why;
  ASSERT_TRUE(WaitFor(
      std::chrono::seconds(120),
      [&](std::string* seen) {
        const std::string pod = PluginPod();
        const int64_t advertised = Allocatable("nvidia.com/gpu");
        *seen =
            "plugin pod '" + pod + "', nvidia.com/gpu allocatable " + std::to_string(advertised);
        return !pod.empty() && pod != old_pod && advertised == 8;
      },
      &why))
      << why;

  // The running container's limits still hold: its region is where it was.
  const CommandResult info = Probe(ns.name(), "probe", "info");
  ASSERT_EQ(info.exit_code, 0) << info.Describe();
  EXPECT_EQ(JsonLines(info.out).at(0)["total"], kH100Slice);
  const CommandResult too_much =
      Probe(ns.name(), "probe", "alloc " + std::to_string(kH100Slice + 1));
  EXPECT_EQ(too_much.exit_code, 3) << too_much.Describe();
  // Counts stay right: the busy slice is still taken, seven more fit.
  Apply(ns.name(), SeedDeployment(7));
  ASSERT_TRUE(WaitFor(
      std::chrono::seconds(180),
      [&](std::string* seen) {
        const int running = RunningPods(ns.name(), "app=gpu-example-app");
        *seen = std::to_string(running) + " of 7 replicas Running";
        return running == 7;
      },
      &why))
      << why;
}

TEST_F(ClusterTest, HelmUpgradeReslicesFreeGpusAndBusyOnesWait) {
  TestNamespace ns("e2e-reslice");
  Apply(ns.name(), ProbePod("busy", "nvidia.com/gpu", 1));
  WaitRunning(ns.name(), "busy");
  const std::string busy_gpu =
      Contract(ns.name(), "busy")["env"].value("NVIDIA_VISIBLE_DEVICES", "");

  std::string halves = DefaultValues();
  halves.replace(halves.find("slices: 4"), 9, "slices: 2");
  const std::string values = "/tmp/gpuslice-e2e-halves.yaml";
  std::ofstream(values) << halves;
  const CommandResult upgrade =
      Helm("upgrade " + kRelease + " " + Quote(kRepo + "/deploy/helm/gpuslice") + " -n " +
           kReleaseNamespace + " --wait -f " + values);
  ASSERT_EQ(upgrade.exit_code, 0) << upgrade.Describe();

  // The free H100 takes two slices at once; the busy one keeps its four until it is free.
  std::string why;
  ASSERT_TRUE(WaitForAllocatable("nvidia.com/gpu", 6, &why)) << why;
  const std::string metrics = PluginHttp("/metrics");
  const std::string series = "gpuslice_gpu_reslice_pending{gpu=\"" + busy_gpu + "\"";
  const size_t at = metrics.find(series);
  ASSERT_NE(at, std::string::npos) << metrics;
  const size_t value = metrics.find("} ", at);
  ASSERT_NE(value, std::string::npos) << metrics;
  EXPECT_EQ(metrics.substr(value + 2, 2), "1\n") << metrics.substr(at, 120);

  const CommandResult deleted = Kubectl("-n " + ns.name() + " delete pod busy --wait=true");
  ASSERT_EQ(deleted.exit_code, 0) << deleted.Describe();
  ASSERT_TRUE(WaitForAllocatable("nvidia.com/gpu", 4, &why)) << why;
  unlink(values.c_str());
}

TEST_F(ClusterTest, DeletedPodsRegionIsRemovedThroughPodResources) {
  TestNamespace ns("e2e-regions");
  // The suite runs one test at a time: the directory that appears is this pod's.
  const std::string regions = "/var/lib/gpuslice/regions";
  const CommandResult before = Shell("ls " + regions);
  Apply(ns.name(), ProbePod("probe", "nvidia.com/gpu", 1));
  WaitRunning(ns.name(), "probe");
  const CommandResult after = Shell("ls " + regions);
  std::set<std::string> existing;
  std::istringstream old_lines(before.out);
  for (std::string line; std::getline(old_lines, line);) existing.insert(line);
  std::vector<std::string> added;
  std::istringstream new_lines(after.out);
  for (std::string line; std::getline(new_lines, line);) {
    if (!existing.count(line)) added.push_back(line);
  }
  ASSERT_EQ(added.size(), 1u) << "before:\n" << before.out << "after:\n" << after.out;
  const std::string region_dir = regions + "/" + added[0];

  const CommandResult deleted = Kubectl("-n " + ns.name() + " delete pod probe --wait=true");
  ASSERT_EQ(deleted.exit_code, 0) << deleted.Describe();
  std::string why;
  EXPECT_TRUE(WaitFor(
      std::chrono::seconds(90),
      [&](std::string* seen) {
        *seen = region_dir + " still exists";
        return access(region_dir.c_str(), F_OK) != 0;
      },
      &why))
      << why;
}

TEST_F(ClusterTest, XidTakesTheGpusSlicesAwayUntilItRecovers) {
  TestNamespace ns("e2e-xid");
  const std::string plugin = PluginPod();
  ASSERT_FALSE(plugin.empty());
  // XID 94 (contained ECC error) is critical but recoverable.
  const CommandResult xid = Kubectl("-n " + kReleaseNamespace + " exec " + plugin +
                                    " -- gpuslice sim xid --state /var/lib/gpuslice/sim/state "
                                    "--gpu 0 --xid 94");
  ASSERT_EQ(xid.exit_code, 0) << xid.Describe();
  std::string why;
  EXPECT_TRUE(WaitForAllocatable("nvidia.com/gpu", 4, &why, std::chrono::seconds(60))) << why;
  EXPECT_EQ(Allocatable("gpuslice.io/slice"), 2);
  EXPECT_TRUE(WaitForAllocatable("nvidia.com/gpu", 8, &why, std::chrono::seconds(90)))
      << "the GPU did not come back after its recovery window: " << why;
}

// The value of `family`'s series for container "probe" of `pod` in `ns` on the agent's
// /metrics, or nullopt when it has none.
std::optional<double> ContainerSeries(const std::string& metrics, const std::string& family,
                                      const std::string& ns, const std::string& pod) {
  return SeriesValue(metrics, family,
                     {"namespace=\"" + ns + "\"", "pod=\"" + pod + "\"", "container=\"probe\""});
}

TEST_F(ClusterTest, ContainerSeriesShowWhatAPodHoldsAndRefusesWithinFiveSeconds) {
  TestNamespace ns("e2e-container-metrics");
  const std::string pod = "holder";
  const uint64_t held = 3ULL << 30;
  Apply(ns.name(), HoldingProbePod(pod, "nvidia.com/gpu", 1, held));
  WaitRunning(ns.name(), pod);

  // Each scrape reads the regions and the kubelet's listing afresh: the pod's series are there
  // as soon as its process holds the memory. The simulated context adds its own overhead.
  std::string metrics;
  std::string why;
  EXPECT_TRUE(WaitFor(
      std::chrono::seconds(5),
      [&](std::string* seen) {
        metrics = PluginHttp("/metrics");
        const std::optional<double> used = ContainerSeries(
            metrics, "gpuslice_container_memory_used_bytes", ns.name(), pod);
        *seen = used ? std::to_string(*used) : "no series";
        return used && *used >= static_cast<double>(held) &&
               *used <= static_cast<double>(held + (256ULL << 20));
      },
      &why))
      << "the holder's memory is not shown: " << why << "\n" << metrics;
  EXPECT_EQ(ContainerSeries(metrics, "gpuslice_container_memory_limit_bytes", ns.name(), pod),
            static_cast<double>(kH100Slice));
  EXPECT_EQ(ContainerSeries(metrics, "gpuslice_container_oom_refusals_total", ns.name(), pod),
            0.0);
  EXPECT_EQ(ContainerSeries(metrics, "gpuslice_container_compute_share_ratio", ns.name(), pod),
            0.25);
  EXPECT_TRUE(
      ContainerSeries(metrics, "gpuslice_container_compute_used_ratio", ns.name(), pod).has_value())
      << metrics;

  // `gpuslice top` as a user runs it: the kubeconfig's API server lists the agent pods and
  // proxies to their metrics port.
  const CommandResult top = Shell(Quote(kBinDir + "/gpuslice") + " top -o json");
  ASSERT_EQ(top.exit_code, 0) << top.Describe();
  const nlohmann::json rows = nlohmann::json::parse(top.out)["containers"];
  nlohmann::json holder;
  for (const nlohmann::json& row : rows) {
    if (row["namespace"] == ns.name() && row["pod"] == pod) holder = row;
  }
  ASSERT_TRUE(holder.is_object()) << top.out;
  EXPECT_EQ(holder["node"], NodeName());
  EXPECT_GE(holder["memoryUsedBytes"].get<double>(), static_cast<double>(held)) << holder;
  EXPECT_EQ(holder["memoryLimitBytes"].get<double>(), static_cast<double>(kH100Slice)) << holder;

  // A second process of the container asks for more than is left: refused, counted once.
  const CommandResult refused = Probe(ns.name(), pod, "alloc " + std::to_string(kH100Slice));
  EXPECT_EQ(refused.exit_code, 3) << refused.Describe();
  EXPECT_TRUE(WaitFor(
      std::chrono::seconds(5),
      [&](std::string* seen) {
        metrics = PluginHttp("/metrics");
        const std::optional<double> refusals = ContainerSeries(
            metrics, "gpuslice_container_oom_refusals_total", ns.name(), pod);
        *seen = refusals ? std::to_string(*refusals) : "no series";
        return refusals == 1.0;
      },
      &why))
      << "one refusal is not counted once: " << why << "\n" << metrics;
}

TEST_F(ClusterTest, MetricsPassPromtool) {
  const std::string metrics = PluginHttp("/metrics");
  ASSERT_THAT(metrics, HasSubstr("gpuslice_gpu_slices"));
  const CommandResult check = Shell("promtool check metrics", metrics);
  EXPECT_EQ(check.exit_code, 0) << check.Describe();
}

}  // namespace
}  // namespace gpuslice::e2e
