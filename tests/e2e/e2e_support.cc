#include "e2e/e2e_support.h"

#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <thread>

namespace gpuslice::e2e {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

// A new empty file, named after `tag`, that the caller removes: the file mkstemps made is the
// one returned, so nothing else is left behind in /tmp.
std::string TempPath(const std::string& tag) {
  std::string pattern = "/tmp/gpuslice-e2e-XXXXXX-" + tag;
  const int fd = mkstemps(pattern.data(), static_cast<int>(tag.size()) + 1);
  if (fd >= 0) close(fd);
  return pattern;
}

}  // namespace

std::string CommandResult::Describe() const {
  return "exit " + std::to_string(exit_code) + "\nstdout: " + out + "\nstderr: " + err;
}

std::string Quote(const std::string& argument) {
  std::string quoted = "'";
  for (char c : argument) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  return quoted + "'";
}

CommandResult Shell(const std::string& command, const std::string& input) {
  const std::string in = TempPath("in"), out = TempPath("out"), err = TempPath("err");
  std::ofstream(in) << input;
  const std::string script = "eval \"$(" + Quote(kRepo + "/scripts/cluster.sh") + " env)\" && " +
                             command + " <" + in + " >" + out + " 2>" + err;
  const int status = system(("/bin/sh -c " + Quote(script)).c_str());
  CommandResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = ReadFile(out);
  result.err = ReadFile(err);
  for (const std::string& path : {in, out, err}) unlink(path.c_str());
  return result;
}

CommandResult Kubectl(const std::string& arguments, const std::string& input) {
  return Shell("kubectl " + arguments, input);
}

nlohmann::json KubectlJson(const std::string& arguments) {
  const CommandResult result = Kubectl(arguments + " -o json");
  EXPECT_EQ(result.exit_code, 0) << "kubectl " << arguments << ": " << result.Describe();
  if (result.exit_code != 0) return nlohmann::json::object();
  try {
    return nlohmann::json::parse(result.out);
  } catch (const nlohmann::json::exception& e) {
    ADD_FAILURE() << "kubectl " << arguments << " printed no JSON: " << e.what();
    return nlohmann::json::object();
  }
}

CommandResult Helm(const std::string& arguments) { return Shell("helm " + arguments); }

bool WaitFor(std::chrono::seconds timeout, const std::function<bool(std::string* why)>& check,
             std::string* last_why, std::chrono::milliseconds interval) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string why;
  while (true) {
    why.clear();
    if (check(&why)) return true;
    if (std::chrono::steady_clock::now() >= deadline) {
      if (last_why != nullptr) *last_why = why;
      return false;
    }
    std::this_thread::sleep_for(interval);
  }
}

std::string NodeName() {
  const CommandResult result = Kubectl("get nodes -o jsonpath='{.items[0].metadata.name}'");
  return result.out;
}

int64_t Allocatable(const std::string& resource) {
  const CommandResult result = Kubectl("get node " + Quote(NodeName()) + " -o json");
  if (result.exit_code != 0) return -1;
  try {
    const nlohmann::json node = nlohmann::json::parse(result.out);
    const nlohmann::json& allocatable = node["status"]["allocatable"];
    if (!allocatable.contains(resource)) return 0;
    return std::stoll(allocatable[resource].get<std::string>());
  } catch (const std::exception&) {
    return -1;
  }
}

bool WaitForAllocatable(const std::string& resource, int64_t count, std::string* why,
                        std::chrono::seconds timeout) {
  return WaitFor(
      timeout,
      [&](std::string* seen) {
        const int64_t now = Allocatable(resource);
        *seen = resource + " allocatable " + std::to_string(now) + ", expected " +
                std::to_string(count);
        return now == count;
      },
      why);
}

std::string DefaultValues() {
  // Two simulated models, two profiles, two resource names; short recovery and cleanup delays
  // so the suite's waits stay short.
  return R"(simulate: "2xH100-80GB,1xA10G"
logLevel: debug
regionCleanup: {grace: 5s, confirmation: 5s, interval: 5s}
config:
  health:
    recoveryWindow: 15s
  profiles:
  - name: h100-quarters
    match: {models: ["*H100*"]}
    slices: 4
    resourceName: nvidia.com/gpu
  - name: a10g-halves
    match: {models: ["*A10G*"]}
    slices: 2
    resourceName: gpuslice.io/slice
)";
}

std::map<std::string, int64_t> DefaultAllocatable() {
  return {{"nvidia.com/gpu", 8}, {"gpuslice.io/slice", 2}};
}

namespace {

// Waits for the DaemonSet's rollout and then for the node to advertise `expected`.
void WaitForAgent(const std::map<std::string, int64_t>& expected) {
  // Helm's --wait counts a DaemonSet whose pods cannot start as ready during a rolling update.
  const CommandResult rollout = Kubectl("-n " + kReleaseNamespace + " rollout status daemonset/" +
                                        kRelease + " --timeout=180s");
  ASSERT_EQ(rollout.exit_code, 0) << rollout.Describe()
                                  << Kubectl("-n " + kReleaseNamespace + " describe pods").out;
  std::string why;
  const bool advertised = WaitFor(
      std::chrono::seconds(90),
      [&](std::string* seen) {
        for (const auto& [resource, count] : expected) {
          const int64_t now = Allocatable(resource);
          if (now != count) {
            *seen = resource + " allocatable is " + std::to_string(now) + ", expected " +
                    std::to_string(count);
            return false;
          }
        }
        return true;
      },
      &why);
  ASSERT_TRUE(advertised) << why;
}

// The agent's ConfigMap as JSON, or "" when the release has none yet.
std::string AgentConfigMap() {
  const CommandResult data =
      Kubectl("-n " + kReleaseNamespace + " get configmap " + kRelease + " -o jsonpath='{.data}'");
  return data.exit_code == 0 ? data.out : "";
}

// Whether the agent's /healthz says it serves and every resource is registered with the
// kubelet; `seen` says what it answered otherwise.
bool AgentRegistered(std::string* seen) {
  const CommandResult pods = Kubectl("-n " + kReleaseNamespace +
                                     " get pods -l app.kubernetes.io/name=gpuslice -o "
                                     "jsonpath='{range .items[*]}{.status.podIP} {end}'");
  const CommandResult health =
      Shell("curl -fsS --max-time 5 " +
            Quote("http://" + pods.out.substr(0, pods.out.find(' ')) + ":9410/healthz"));
  *seen = "agent pods " + pods.out + "; /healthz: " + health.out + health.err;
  // While the old pod still terminates there are two.
  if (pods.exit_code != 0 || std::count(pods.out.begin(), pods.out.end(), ' ') != 1 ||
      health.exit_code != 0) {
    return false;
  }
  try {
    const nlohmann::json body = nlohmann::json::parse(health.out);
    if (body.value("status", "") != "ok" || body["resources"].empty()) return false;
    for (const nlohmann::json& resource : body["resources"]) {
      if (!resource.value("registered", false)) return false;
    }
    return true;
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

}  // namespace

void InstallChart(const std::string& values_yaml, const std::map<std::string, int64_t>& expected) {
  const std::string config_before = AgentConfigMap();
  const std::string values = TempPath("values.yaml");
  std::ofstream(values) << values_yaml;
  const CommandResult helm =
      Helm("upgrade --install " + kRelease + " " + Quote(kRepo + "/deploy/helm/gpuslice") +
           " --namespace " + kReleaseNamespace + " --create-namespace --wait --timeout 180s -f " +
           values);
  unlink(values.c_str());
  ASSERT_EQ(helm.exit_code, 0) << helm.Describe();
  // The kubelet refreshes a changed ConfigMap in a running pod only within its sync period, so
  // a change that alters nothing the node advertises (a device list strategy, distinctGpus)
  // would not be known to be served when the test goes on: the agent restarts to read it.
  if (!config_before.empty() && AgentConfigMap() != config_before) {
    const CommandResult restart =
        Kubectl("-n " + kReleaseNamespace + " rollout restart daemonset/" + kRelease);
    ASSERT_EQ(restart.exit_code, 0) << restart.Describe();
    const CommandResult rollout = Kubectl("-n " + kReleaseNamespace + " rollout status daemonset/" +
                                          kRelease + " --timeout=180s");
    ASSERT_EQ(rollout.exit_code, 0) << rollout.Describe();
    std::string why;
    ASSERT_TRUE(WaitFor(std::chrono::seconds(90), AgentRegistered, &why)) << why;
  }
  WaitForAgent(expected);
}

void Apply(const std::string& ns, const std::string& manifest) {
  const CommandResult applied = Kubectl("-n " + ns + " apply -f -", manifest);
  ASSERT_EQ(applied.exit_code, 0) << applied.Describe();
}

nlohmann::json Contract(const std::string& ns, const std::string& pod) {
  const CommandResult contract = Probe(ns, pod, "contract");
  EXPECT_EQ(contract.exit_code, 0) << contract.Describe();
  try {
    return nlohmann::json::parse(contract.out);
  } catch (const nlohmann::json::exception&) {
    ADD_FAILURE() << "cuda-probe contract printed no JSON: " << contract.out;
    return nlohmann::json::object();
  }
}

std::string PluginPod() {
  const CommandResult result =
      Kubectl("-n " + kReleaseNamespace +
              " get pods -l app.kubernetes.io/name=gpuslice --field-selector=status.phase=Running "
              "-o jsonpath='{.items[0].metadata.name}'");
  return result.exit_code == 0 ? result.out : "";
}

namespace {

std::string ProbePodRunning(const std::string& name, const std::string& resource, int count,
                            const std::string& args) {
  return "apiVersion: v1\nkind: Pod\nmetadata:\n  name: " + name +
         "\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: probe\n"
         "    image: " +
         kProbeImage + "\n    imagePullPolicy: Never\n    args: " + args +
         "\n    resources:\n      limits:\n        " + resource + ": " + std::to_string(count) +
         "\n  tolerations:\n  - {key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}\n";
}

}  // namespace

std::string ProbePod(const std::string& name, const std::string& resource, int count) {
  return ProbePodRunning(name, resource, count, "[sleep]");
}

std::string HoldingProbePod(const std::string& name, const std::string& resource, int count,
                            uint64_t bytes) {
  return ProbePodRunning(name, resource, count, "[hold, \"" + std::to_string(bytes) + "\"]");
}

std::optional<double> SeriesValue(const std::string& metrics, const std::string& family,
                                  const std::vector<std::string>& labels) {
  std::istringstream lines(metrics);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(family + "{", 0) != 0) continue;
    const bool all = std::all_of(labels.begin(), labels.end(), [&](const std::string& label) {
      return line.find(label) != std::string::npos;
    });
    if (all) return std::strtod(line.c_str() + line.rfind(' ') + 1, nullptr);
  }
  return std::nullopt;
}

void WaitRunning(const std::string& ns, const std::string& name, std::chrono::seconds timeout) {
  std::string why;
  const bool running = WaitFor(
      timeout,
      [&](std::string* seen) {
        const CommandResult result =
            Kubectl("-n " + ns + " get pod " + name + " -o jsonpath='{.status.phase}'");
        *seen = "phase " + result.out;
        return result.out == "Running";
      },
      &why);
  if (!running) {
    const CommandResult describe = Kubectl("-n " + ns + " describe pod " + name);
    FAIL() << "pod " << ns << "/" << name << " is not Running after " << timeout.count() << " s ("
           << why << ")\n"
           << describe.out;
  }
}

CommandResult Probe(const std::string& ns, const std::string& pod, const std::string& args) {
  return Kubectl("-n " + ns + " exec " + pod + " -- cuda-probe " + args);
}

std::vector<nlohmann::json> JsonLines(const std::string& text) {
  std::vector<nlohmann::json> documents;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    try {
      documents.push_back(nlohmann::json::parse(line));
    } catch (const nlohmann::json::exception& e) {
      ADD_FAILURE() << "not JSON: " << line << ": " << e.what();
    }
  }
  return documents;
}

std::string PluginHttp(const std::string& path) {
  const std::string pod = PluginPod();
  if (pod.empty()) return "";
  const CommandResult ip =
      Kubectl("-n " + kReleaseNamespace + " get pod " + pod + " -o jsonpath='{.status.podIP}'");
  const CommandResult body =
      Shell("curl -fsS --max-time 10 " + Quote("http://" + ip.out + ":9410" + path));
  EXPECT_EQ(body.exit_code, 0) << body.Describe();
  return body.out;
}

TestNamespace::TestNamespace(const std::string& name) : name_(name) {
  Kubectl("delete namespace " + name_ + " --wait=true --ignore-not-found --timeout=60s");
  const CommandResult created = Kubectl("create namespace " + name_);
  EXPECT_EQ(created.exit_code, 0) << created.Describe();
}

TestNamespace::~TestNamespace() {
  Kubectl("delete namespace " + name_ + " --wait=true --timeout=90s");
}

std::string ClusterSkipReason() {
  const std::string skip = ReadFile(kStateDir + "/skip");
  if (!skip.empty()) return skip;
  if (ReadFile(kStateDir + "/setup-seconds").empty()) {
    return "tests/e2e/setup.sh has not brought the cluster up: run the suite through ctest "
           "(`ctest -L e2e`), which runs it first as the e2e_cluster fixture";
  }
  const CommandResult status = Shell(Quote(kRepo + "/scripts/cluster.sh") + " status");
  if (status.exit_code != 0) {
    ADD_FAILURE() << "the e2e cluster is not up any more:\n" << status.out << status.err;
    return "the e2e cluster is down";
  }
  return "";
}

void ClusterTest::SetUp() {
  const std::string skip = ClusterSkipReason();
  if (!skip.empty()) GTEST_SKIP() << skip;
  // The DRA tests' release shares the node's simulated GPUs: never both at once.
  const CommandResult dra =
      Helm("uninstall gpuslice-dra -n " + kReleaseNamespace + " --wait --ignore-not-found");
  ASSERT_EQ(dra.exit_code, 0) << dra.Describe();
  InstallChart(DefaultValues(), DefaultAllocatable());
}

}  // namespace gpuslice::e2e
