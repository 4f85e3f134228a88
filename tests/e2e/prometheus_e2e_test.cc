// The chart's dashboard and alerts against a real Prometheus: Debian's /usr/bin/prometheus runs
// on the host, scrapes the node agent's pod on the e2e cluster every second and evaluates the
// PrometheusRule's groups as `helm template` renders them, while a pod holds most of its memory
// slice. Every expression of the dashboard and of the alert rules must then run without error,
// the memory ones with data, and every rule must evaluate healthy.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "e2e/e2e_support.h"

namespace gpuslice::e2e {
namespace {

const std::string kPrometheus = "/usr/bin/prometheus";

// A directory of its own under /tmp, removed with everything in it when the test ends.
class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/gpuslice-prometheus-XXXXXX";
    if (mkdtemp(pattern) != nullptr) path_ = pattern;
  }
  ~TempDir() {
    if (path_.empty()) return;
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A port on 127.0.0.1 that was free a moment ago: the kernel's pick for port 0, read back.
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  close(fd);
  return port;
}

std::string ReadText(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

// /usr/bin/prometheus as a child process, stopped (SIGTERM, then SIGKILL) when it goes.
class PrometheusServer {
 public:
  PrometheusServer(const std::string& dir, int port)
      : log_(dir + "/prometheus.log"), url_("http://127.0.0.1:" + std::to_string(port)) {
    const std::vector<std::string> arguments = {
        kPrometheus,
        "--config.file=" + dir + "/prometheus.yml",
        "--storage.tsdb.path=" + dir + "/data",
        "--web.listen-address=127.0.0.1:" + std::to_string(port),
        "--log.level=info",
    };
    std::vector<char*> argv;
    for (const std::string& argument : arguments)
      argv.push_back(const_cast<char*>(argument.c_str()));
    argv.push_back(nullptr);
    const int log = open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    const int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (log < 0 || null < 0) {
      if (log >= 0) close(log);
      if (null >= 0) close(null);
      return;
    }
    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid == 0) {
      // Prometheus goes with the test even when the test dies before its destructor runs.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);
      dup2(null, STDIN_FILENO);
      dup2(log, STDOUT_FILENO);
      dup2(log, STDERR_FILENO);
      execv(kPrometheus.c_str(), argv.data());
      _exit(127);
    }
    close(log);
    close(null);
    if (pid > 0) pid_ = pid;
  }

  ~PrometheusServer() {
    if (pid_ <= 0 || !Running()) return;
    kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }

  PrometheusServer(const PrometheusServer&) = delete;
  PrometheusServer& operator=(const PrometheusServer&) = delete;

  bool started() const { return pid_ > 0; }

  // Whether it still runs; reaps it once it exited.
  bool Running() {
    if (pid_ <= 0 || exited_) return false;
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) exited_ = true;
    return !exited_;
  }

  std::string Log() const { return ReadText(log_); }

  // GET of an API path, `query` URL-encoded as its query parameter when given. The body, or an
  // object with status "error" saying why there was none.
  nlohmann::json Api(const std::string& path, const std::string& query = "") const {
    std::string command = "curl -sS --max-time 10 ";
    if (!query.empty()) command += "--get --data-urlencode " + Quote("query=" + query) + " ";
    const CommandResult result = Shell(command + Quote(url_ + path));
    if (result.exit_code != 0) {
      return {{"status", "error"}, {"error", "curl: " + result.Describe()}};
    }
    try {
      return nlohmann::json::parse(result.out);
    } catch (const nlohmann::json::exception&) {
      return {{"status", "error"}, {"error", "not JSON: " + result.out}};
    }
  }

 private:
  std::string log_;
  std::string url_;
  pid_t pid_ = -1;
  bool exited_ = false;
};

// One document of `helm template` of the chart with the Prometheus Operator's API present, as
// a user's cluster with kube-prometheus-stack renders it.
YAML::Node RenderTemplate(const std::string& template_path) {
  const CommandResult rendered = Helm(
      "template " + kRelease + " " + Quote(kRepo + "/deploy/helm/gpuslice") + " -n " +
      kReleaseNamespace + " --api-versions monitoring.coreos.com/v1 --show-only " + template_path);
  EXPECT_EQ(rendered.exit_code, 0) << rendered.Describe();
  try {
    return YAML::Load(rendered.out);
  } catch (const YAML::Exception& e) {
    ADD_FAILURE() << "helm rendered no YAML for " << template_path << ": " << e.what();
    return YAML::Node();
  }
}

// The value at JSON pointer `pointer` of `document`, or null: Prometheus's and kubectl's answers
// are read without asserting on a field they lack.
nlohmann::json Get(const nlohmann::json& document, const std::string& pointer) {
  const nlohmann::json::json_pointer at(pointer);
  return document.contains(at) ? document.at(at) : nlohmann::json();
}

struct Expression {
  std::string source;  // "dashboard panel <title>" or "alert <name>"
  std::string expr;
};

// Every target expression of the dashboard's panels, rows' panels included.
void CollectPanels(const nlohmann::json& panels, std::vector<Expression>* out) {
  if (!panels.is_array()) return;
  for (const nlohmann::json& panel : panels) {
    if (panel.contains("targets") && panel["targets"].is_array()) {
      for (const nlohmann::json& target : panel["targets"]) {
        if (target.contains("expr") && target["expr"].is_string()) {
          out->push_back({"dashboard panel \"" + panel.value("title", "") + "\"",
                          target["expr"].get<std::string>()});
        }
      }
    }
    if (panel.contains("panels")) CollectPanels(panel["panels"], out);
  }
}

bool IsNameChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// `expr` with Grafana's variables ($name and ${name}) replaced by `values`; "" with `*unknown`
// naming the variable when one has no value.
std::string SubstituteVariables(const std::string& expr,
                                const std::map<std::string, std::string>& values,
                                std::string* unknown) {
  std::string result;
  size_t at = 0;
  while (at < expr.size()) {
    if (expr[at] != '$') {
      result += expr[at++];
      continue;
    }
    const bool braced = at + 1 < expr.size() && expr[at + 1] == '{';
    size_t begin = at + (braced ? 2 : 1);
    size_t end = begin;
    while (end < expr.size() && IsNameChar(expr[end])) ++end;
    const std::string name = expr.substr(begin, end - begin);
    const auto value = values.find(name);
    if (name.empty() || value == values.end() ||
        (braced && (end >= expr.size() || expr[end] != '}'))) {
      *unknown = expr.substr(at, end - at + (braced ? 1 : 0));
      return "";
    }
    result += value->second;
    at = end + (braced ? 1 : 0);
  }
  return result;
}

// Checks the binary before the chart is put back, so a host without it skips at once.
class PrometheusTest : public ClusterTest {
 protected:
  void SetUp() override {
    if (access(kPrometheus.c_str(), X_OK) != 0) {
      GTEST_SKIP() << kPrometheus
                   << " is not installed (Debian package prometheus; scripts/setup.sh installs it "
                      "with the test packages)";
    }
    ClusterTest::SetUp();
  }
};

TEST_F(PrometheusTest, DashboardAndAlertExpressionsRunOnTheScrapedAgent) {
  // The rendered rule groups and dashboard, as the chart ships them.
  const YAML::Node rule = RenderTemplate("templates/prometheusrule.yaml");
  ASSERT_TRUE(rule["spec"]["groups"].IsSequence()) << "the PrometheusRule has no spec.groups";
  const YAML::Node dashboard_map = RenderTemplate("templates/grafana-dashboard.yaml");
  ASSERT_TRUE(dashboard_map["data"]["gpuslice-containers.json"].IsScalar())
      << "the dashboard ConfigMap has no gpuslice-containers.json";
  nlohmann::json dashboard;
  try {
    dashboard =
        nlohmann::json::parse(dashboard_map["data"]["gpuslice-containers.json"].as<std::string>());
  } catch (const nlohmann::json::exception& e) {
    FAIL() << "the dashboard ConfigMap's JSON does not parse: " << e.what();
  }

  // The agent's pod, reached directly on the node's CNI bridge as the cluster's Prometheus
  // would reach it through the ServiceMonitor's endpoints.
  const std::string agent = PluginPod();
  ASSERT_FALSE(agent.empty()) << "no Running agent pod";
  const nlohmann::json agent_pod = KubectlJson("-n " + kReleaseNamespace + " get pod " + agent);
  const nlohmann::json agent_ip_json = Get(agent_pod, "/status/podIP");
  const std::string agent_ip = agent_ip_json.is_string() ? agent_ip_json.get<std::string>() : "";
  ASSERT_FALSE(agent_ip.empty()) << Get(agent_pod, "/status").dump();
  int metrics_port = 0;
  for (const nlohmann::json& container : Get(agent_pod, "/spec/containers")) {
    for (const nlohmann::json& port : container.value("ports", nlohmann::json::array())) {
      if (port.value("name", "") == "metrics") metrics_port = port.value("containerPort", 0);
    }
  }
  ASSERT_GT(metrics_port, 0) << "the agent's pod has no port named metrics";
  const std::string target = agent_ip + ":" + std::to_string(metrics_port);
  const CommandResult reachable =
      Shell("curl -fsS --max-time 5 -o /dev/null " + Quote("http://" + target + "/metrics"));
  ASSERT_EQ(reachable.exit_code, 0)
      << "the host does not reach the agent's pod at " << target << ": " << reachable.Describe();

  // A container holding 95% of its slice: the memory series have data, and so has the
  // memory alert's expression (above 90%).
  TestNamespace ns("e2e-prometheus");
  const std::string pod = "holder";
  const uint64_t held = kH100Slice / 100 * 95;
  Apply(ns.name(), HoldingProbePod(pod, "nvidia.com/gpu", 1, held));
  WaitRunning(ns.name(), pod);

  TempDir dir;
  ASSERT_FALSE(dir.path().empty()) << "mkdtemp failed";
  const int port = FreePort();
  ASSERT_GT(port, 0) << "no free port on 127.0.0.1";
  {
    YAML::Node rules;
    rules["groups"] = rule["spec"]["groups"];
    std::ofstream(dir.path() + "/rules.yml") << YAML::Dump(rules) << "\n";
    std::ofstream config(dir.path() + "/prometheus.yml");
    config << "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
           << "rule_files: [" << dir.path() << "/rules.yml]\n"
           << "scrape_configs:\n- job_name: gpuslice\n  static_configs:\n"
           << "  - targets: ['" << target
           << "']\n"
           // The label the ServiceMonitor's relabeling gives every series.
           << "    labels: {node: '" << NodeName() << "'}\n";
  }
  PrometheusServer prometheus(dir.path(), port);
  ASSERT_TRUE(prometheus.started()) << "cannot start " << kPrometheus;

  std::string why;
  ASSERT_TRUE(WaitFor(
      std::chrono::seconds(90),
      [&](std::string* seen) {
        if (!prometheus.Running()) {
          *seen = "prometheus exited";
          return true;
        }
        const nlohmann::json targets = prometheus.Api("/api/v1/targets");
        *seen = targets.dump();
        if (targets.value("status", "") != "success") return false;
        for (const nlohmann::json& active : Get(targets, "/data/activeTargets")) {
          if (active.value("health", "") == "up") return true;
        }
        return false;
      },
      &why))
      << "the agent's target is not up: " << why << "\n"
      << prometheus.Log();
  ASSERT_TRUE(prometheus.Running()) << "prometheus exited:\n" << prometheus.Log();

  // The holder's series, once scraped.
  const std::string holder_series =
      "gpuslice_container_memory_used_bytes{namespace=\"" + ns.name() + "\",pod=\"" + pod + "\"}";
  ASSERT_TRUE(WaitFor(
      std::chrono::seconds(60),
      [&](std::string* seen) {
        const nlohmann::json answer = prometheus.Api("/api/v1/query", holder_series);
        *seen = answer.dump();
        return answer.value("status", "") == "success" && !Get(answer, "/data/result").empty();
      },
      &why))
      << holder_series << " has no data: " << why << "\nthe agent serves:\n"
      << PluginHttp("/metrics");

  std::vector<Expression> expressions;
  CollectPanels(dashboard["panels"], &expressions);
  ASSERT_FALSE(expressions.empty()) << "the dashboard has no target expressions";
  // The dashboard's variables as Grafana would fill them for the holder: its namespace and pod
  // selected, and the intervals Grafana derives from a 15 s scrape interval.
  const std::map<std::string, std::string> variables = {
      {"namespace", ns.name()},  {"pod", pod},          {"node", NodeName()},
      {"__rate_interval", "1m"}, {"__interval", "15s"}, {"__range", "1h"}};
  for (Expression& expression : expressions) {
    std::string unknown;
    const std::string substituted = SubstituteVariables(expression.expr, variables, &unknown);
    EXPECT_TRUE(unknown.empty()) << expression.source
                                 << ": the test gives no value to Grafana's variable " << unknown
                                 << " in " << expression.expr;
    expression.expr = substituted;
  }
  size_t alerts = 0;
  for (const YAML::Node& group : rule["spec"]["groups"]) {
    for (const YAML::Node& entry : group["rules"]) {
      if (!entry["alert"]) continue;
      expressions.push_back(
          {"alert " + entry["alert"].as<std::string>(), entry["expr"].as<std::string>()});
      ++alerts;
    }
  }
  ASSERT_GT(alerts, 0u) << "the PrometheusRule has no alerts";

  for (const Expression& expression : expressions) {
    if (expression.expr.empty()) continue;
    const nlohmann::json answer = prometheus.Api("/api/v1/query", expression.expr);
    const bool ran = answer.value("status", "") == "success";
    EXPECT_TRUE(ran) << expression.source << ": " << expression.expr
                     << "\nPrometheus: " << answer.value("errorType", "") << ": "
                     << answer.value("error", answer.dump());
    if (ran && expression.expr.find("gpuslice_container_memory_") != std::string::npos) {
      EXPECT_FALSE(Get(answer, "/data/result").empty())
          << expression.source << ": " << expression.expr
          << "\nreturned no series while the holder holds " << held << " bytes: " << answer.dump();
    }
  }

  // Every rule evaluated, healthy; the memory alert pending for the holder (its `for` keeps it
  // from firing within the test).
  const auto memory_alert_pending = [&](const nlohmann::json& groups) {
    for (const nlohmann::json& group : groups) {
      for (const nlohmann::json& entry : Get(group, "/rules")) {
        if (entry.value("name", "") != "GpusliceContainerMemoryHigh") continue;
        for (const nlohmann::json& alert : entry.value("alerts", nlohmann::json::array())) {
          if (Get(alert, "/labels/pod") == pod) return true;
        }
      }
    }
    return false;
  };
  nlohmann::json groups;
  const bool evaluated = WaitFor(
      std::chrono::seconds(60),
      [&](std::string* seen) {
        const nlohmann::json answer = prometheus.Api("/api/v1/rules");
        *seen = answer.dump();
        if (answer.value("status", "") != "success") return false;
        groups = Get(answer, "/data/groups");
        size_t rules = 0;
        for (const nlohmann::json& group : groups) {
          for (const nlohmann::json& entry : Get(group, "/rules")) {
            if (entry.value("health", "unknown") == "unknown") return false;
            ++rules;
          }
        }
        return rules >= alerts && memory_alert_pending(groups);
      },
      &why);
  EXPECT_TRUE(evaluated) << "the rules were not all evaluated, or GpusliceContainerMemoryHigh "
                            "has no alert for the pod holding 95% of its slice: "
                         << why << "\n"
                         << prometheus.Log();
  for (const nlohmann::json& group : groups) {
    for (const nlohmann::json& entry : Get(group, "/rules")) {
      EXPECT_EQ(entry.value("health", ""), "ok")
          << "rule " << entry.value("name", "") << ": " << entry.value("query", "")
          << "\nPrometheus: " << entry.value("lastError", "");
    }
  }
}

}  // namespace
}  // namespace gpuslice::e2e
