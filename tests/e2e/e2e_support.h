// Driving the real cluster of scripts/cluster.sh from GoogleTest: kubectl and helm as the user
// runs them, bounded waits, and the skip that tells why the cluster is not there.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace gpuslice::e2e {

inline const std::string kRepo = GPUSLICE_SOURCE_DIR;
inline const std::string kBinDir = GPUSLICE_BIN_DIR;
// Where tests/e2e/setup.sh leaves its skip reason.
inline const std::string kStateDir = GPUSLICE_E2E_STATE_DIR;
inline const std::string kProbeImage = "localhost/gpuslice-cuda-probe:e2e";
inline const std::string kRelease = "gpuslice";
inline const std::string kReleaseNamespace = "gpuslice";

// The simulated H100-80GB's memory, as NVML reports a real one (81,559 MiB), in the four slices
// of the default values.
inline constexpr uint64_t kH100Bytes = 81559ULL << 20;
inline constexpr uint64_t kH100Slice = kH100Bytes / 4;

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
  std::string Describe() const;
};

// Runs `command` with /bin/sh, KUBECONFIG and PATH set for the cluster, `input` on stdin.
CommandResult Shell(const std::string& command, const std::string& input = "");

// Quotes one shell argument.
std::string Quote(const std::string& argument);

CommandResult Kubectl(const std::string& arguments, const std::string& input = "");
// Runs kubectl and parses its `-o json` output; fails the test on error.
nlohmann::json KubectlJson(const std::string& arguments);
CommandResult Helm(const std::string& arguments);

// Polls `check` every `interval` until it returns true or `timeout` passes. Returns whether it
// did. `check` may set `*why` to say what it saw last, for the failure message.
bool WaitFor(std::chrono::seconds timeout, const std::function<bool(std::string* why)>& check,
             std::string* last_why = nullptr,
             std::chrono::milliseconds interval = std::chrono::milliseconds(500));

std::string NodeName();
// The node's allocatable count of `resource`; 0 when absent.
int64_t Allocatable(const std::string& resource);
// Waits up to `timeout` for the node's allocatable `resource` to be `count`; `why` says what
// it was otherwise.
bool WaitForAllocatable(const std::string& resource, int64_t count, std::string* why,
                        std::chrono::seconds timeout = std::chrono::seconds(120));

// Values of the chart every test starts from, and installs or upgrades the release to them
// (`helm upgrade --install --wait`), restarting the agent when its config changed, and waits
// until the plugin advertises `expected` (resource -> allocatable).
void InstallChart(const std::string& values_yaml, const std::map<std::string, int64_t>& expected);
std::string DefaultValues();
std::map<std::string, int64_t> DefaultAllocatable();

// The plugin's pod on the node (Running), or "" when there is none.
std::string PluginPod();

// A pod manifest asking for `count` of `resource`, running the probe's `sleep`, tolerating
// the GPU taint.
std::string ProbePod(const std::string& name, const std::string& resource, int count);

// The same pod, whose probe holds `bytes` of its first GPU from its start (`cuda-probe hold`).
std::string HoldingProbePod(const std::string& name, const std::string& resource, int count,
                            uint64_t bytes);

// Waits for pod `name` in `ns` to be Running; fails the test with its status otherwise.
void WaitRunning(const std::string& ns, const std::string& name,
                 std::chrono::seconds timeout = std::chrono::seconds(120));

// The value of the one series of `family` with all of `labels` (each `name="value"`) in
// `metrics` (Prometheus text), or nullopt when there is none.
std::optional<double> SeriesValue(const std::string& metrics, const std::string& family,
                                  const std::vector<std::string>& labels);

// Runs the probe in a pod: `kubectl exec ns/pod -- cuda-probe ARGS`.
CommandResult Probe(const std::string& ns, const std::string& pod, const std::string& args);

// One JSON document per line of `text`.
std::vector<nlohmann::json> JsonLines(const std::string& text);

// `kubectl apply` of `manifest` in namespace `ns`; fails the test when refused.
void Apply(const std::string& ns, const std::string& manifest);

// What the probe in pod `ns/name` finds of the Allocate contract (env, files, the preload
// file), as `cuda-probe contract` prints it; an empty object, failing the test, otherwise.
nlohmann::json Contract(const std::string& ns, const std::string& pod);

// GET of the plugin pod's metrics port path, through the pod's IP on the node's bridge.
std::string PluginHttp(const std::string& path);

// A namespace that exists for one test and is deleted (with its pods) when it ends.
class TestNamespace {
 public:
  explicit TestNamespace(const std::string& name);
  ~TestNamespace();
  const std::string& name() const { return name_; }

 private:
  std::string name_;
};

// Why the e2e tests cannot run (setup.sh's reason, or the suite not run through ctest), or
// "" when the cluster is up. A cluster that went down is a test failure as well.
std::string ClusterSkipReason();

// Fixture of every e2e test: skips with setup.sh's reason when the cluster is not there, and
// otherwise puts the release back to the default values.
class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override;
};

}  // namespace gpuslice::e2e
