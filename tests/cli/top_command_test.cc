// `gpuslice top` as users run it: the real binary reading a real gpuslice-device-plugin's
// /metrics (simulated GPU, the kubelet stand-in for the device plugin API and PodResources,
// and a client process using its slice through libgpuslice.so), and against agents that are
// down, malformed or named wrongly.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "fakes/subprocess.h"
#include "fakes/temp_dir.h"
#include "kubelet/device_manager.h"
#include "preload/client_process.h"
#include "preload/plugin_fixture.h"

namespace gpuslice::testing {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

const std::string kGpuslice = std::string(GPUSLICE_BIN_DIR) + "/gpuslice";
struct Outcome {
  std::optional<int> exit_code;
  std::string output;  // stdout and stderr together
};

Outcome RunGpuslice(std::vector<std::string> args, const std::string& output_path,
                    const std::map<std::string, std::optional<std::string>>& env = {}) {
  args.insert(args.begin(), kGpuslice);
  Subprocess process(args, env, output_path);
  return {process.Wait(60s), process.Output()};
}

// An in-process HTTP server on a free loopback port: a node agent whose /metrics answers
// whatever the test sets, or (with Handle) an API server stand-in.
class FakeHttpServer {
 public:
  FakeHttpServer() {
    server_.Get("/metrics", [this](const httplib::Request&, httplib::Response& response) {
      std::lock_guard lock(mutex_);
      response.set_content(body_, "text/plain; version=0.0.4");
    });
  }
  ~FakeHttpServer() {
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }
  // REQUIRES: before Start.
  void Handle(const std::string& pattern, httplib::Server::Handler handler) {
    server_.Get(pattern, std::move(handler));
  }
  void Start() {
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // The socket listens from bind on; waiting for the loop keeps stop() from racing it.
    for (int i = 0; i < 3000 && !server_.is_running(); ++i) std::this_thread::sleep_for(1ms);
  }
  void set_body(std::string body) {
    std::lock_guard lock(mutex_);
    body_ = std::move(body);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  httplib::Server server_;
  std::mutex mutex_;
  std::string body_;
  int port_ = -1;
  std::thread thread_;
};

class TopAgainstAPluginTest : public PluginFixture {
 protected:
  std::string Agent() const { return "http://127.0.0.1:" + std::to_string(port_); }

  Outcome Top(std::vector<std::string> args) {
    args.insert(args.begin(), {"top", "--agent", Agent()});
    return RunGpuslice(args, node().directory() + "/top.txt");
  }
};

TEST_F(TopAgainstAPluginTest, ShowsEachContainersUseOfItsSlice) {
  const Outcome empty = Top({});
  EXPECT_EQ(empty.exit_code, 0) << empty.output;
  EXPECT_THAT(empty.output, HasSubstr("No containers with slices."));

  const Environment env = Allocate("team-a/trainer", 1);
  ASSERT_FALSE(env.empty());
  auto client = ClientProcess::Start(kDirectClient, node(), env);
  ASSERT_TRUE(client);
  ASSERT_EQ(client->Send("init"), "ok");
  const uint64_t held = 3ULL << 30;
  ASSERT_EQ(client->Send("alloc plain " + std::to_string(held)).rfind("ok", 0), 0u);
  ASSERT_EQ(client->Send("alloc plain " + std::to_string(kSliceOfGpu)), "err 2");

  const Outcome json = Top({"-o", "json"});
  ASSERT_EQ(json.exit_code, 0) << json.output;
  const nlohmann::json document = nlohmann::json::parse(json.output);
  ASSERT_EQ(document["containers"].size(), 1u) << document.dump();
  const nlohmann::json& row = document["containers"][0];
  EXPECT_EQ(row["node"], "127.0.0.1:" + std::to_string(port_));
  EXPECT_EQ(row["namespace"], "team-a");
  EXPECT_EQ(row["pod"], "trainer");
  EXPECT_EQ(row["container"], "main");
  EXPECT_EQ(row["gpu"], Uuid());
  EXPECT_EQ(row["resource"], "nvidia.com/gpu");
  // The context's overhead counts against the slice too.
  EXPECT_EQ(row["memoryUsedBytes"], held + kContextBytes);
  EXPECT_EQ(row["memoryPeakBytes"], held + kContextBytes);
  EXPECT_EQ(row["memoryLimitBytes"], kSliceOfGpu);
  EXPECT_EQ(row["oomRefusals"], 1);
  EXPECT_EQ(row["computeShare"], 0.25);
  // The process has a context, so the plugin samples it, idle: a known figure, not null.
  EXPECT_TRUE(row["computeUsed"].is_number()) << row.dump();
  EXPECT_EQ(document["errors"].size(), 0u);

  const Outcome table = Top({});
  ASSERT_EQ(table.exit_code, 0) << table.output;
  EXPECT_THAT(table.output, HasSubstr("MEMORY USED / LIMIT"));
  EXPECT_THAT(table.output, HasSubstr("team-a/trainer"));
  EXPECT_THAT(table.output, HasSubstr("3.1 GiB / 10.0 GiB (31%)"));
  EXPECT_THAT(table.output, HasSubstr("COMPUTE USED / SHARE"));
  EXPECT_THAT(table.output, HasSubstr("% / 25%"));
  RecordProperty("table", table.output);  // docs/observability.md shows it

  // The row goes with the pod.
  client.reset();
  kubelet_->ReleasePod("team-a/trainer");
  const Outcome after = Top({"-o", "yaml"});
  ASSERT_EQ(after.exit_code, 0) << after.output;
  EXPECT_THAT(after.output, HasSubstr("containers: []"));
}

TEST_F(TopAgainstAPluginTest, FindsTheAgentsThroughTheApiServersPodProxy) {
  const Environment env = Allocate("team-a/trainer", 2);
  ASSERT_FALSE(env.empty());
  // The API server stand-in: the agents' PodList (one running agent, one pending) for the
  // chart's label, and the pod proxy to the running agent's metrics port, which forwards to the
  // real plugin; both only with the kubeconfig's token.
  const std::string agent_path =
      "/api/v1/namespaces/gpuslice/pods/gpuslice-x7k2p:" + std::to_string(port_) + "/proxy/metrics";
  FakeHttpServer api;
  auto authorized = [](const httplib::Request& request, httplib::Response& response) {
    if (request.get_header_value("Authorization") == "Bearer s3cret") return true;
    response.status = 401;
    response.set_content(R"({"kind":"Status","message":"Unauthorized","code":401})",
                         "application/json");
    return false;
  };
  const int plugin_port = port_;
  api.Handle("/api/v1/pods", [&, plugin_port](const httplib::Request& request,
                                              httplib::Response& response) {
    if (!authorized(request, response)) return;
    EXPECT_EQ(request.get_param_value("labelSelector"), "app.kubernetes.io/name=gpuslice");
    nlohmann::json running = {
        {"metadata", {{"namespace", "gpuslice"}, {"name", "gpuslice-x7k2p"}}},
        {"spec",
         {{"nodeName", "gpu-node-1"},
          {"containers",
           {{{"name", "plugin"},
             {"ports", {{{"name", "metrics"}, {"containerPort", plugin_port}}}}}}}}},
        {"status", {{"phase", "Running"}}}};
    nlohmann::json pending = running;
    pending["metadata"]["name"] = "gpuslice-pending";
    pending["status"]["phase"] = "Pending";
    response.set_content(
        nlohmann::json({{"kind", "PodList"}, {"items", {running, pending}}}).dump(),
        "application/json");
  });
  api.Handle(agent_path,
             [&, plugin_port](const httplib::Request& request, httplib::Response& response) {
               if (!authorized(request, response)) return;
               httplib::Client agent("127.0.0.1", plugin_port);
               auto metrics = agent.Get("/metrics");
               response.status = metrics ? metrics->status : 502;
               response.set_content(metrics ? metrics->body : "", "text/plain");
             });
  api.Start();

  const std::string dir = node().directory();
  auto kubeconfig = [&](const std::string& name, const std::string& token) {
    std::ofstream(dir + "/" + name)
        << "apiVersion: v1\nkind: Config\ncurrent-context: test\n"
        << "contexts:\n- name: test\n  context: {cluster: c, user: u}\n"
        << "clusters:\n- name: c\n  cluster: {server: '" << api.url() << "/'}\n"
        << "users:\n- name: u\n  user: {token: " << token << "}\n";
    return dir + "/" + name;
  };
  const Outcome run = RunGpuslice(
      {"top", "--kubeconfig", kubeconfig("good", "s3cret"), "-o", "json"}, dir + "/top.txt");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const nlohmann::json document = nlohmann::json::parse(run.output);
  ASSERT_EQ(document["containers"].size(), 1u) << document.dump();
  EXPECT_EQ(document["containers"][0]["node"], "gpu-node-1");
  EXPECT_EQ(document["containers"][0]["pod"], "trainer");
  EXPECT_EQ(document["containers"][0]["memoryLimitBytes"], 2 * kSliceOfGpu);
  EXPECT_EQ(document["containers"][0]["computeShare"], 0.5);

  // The kubeconfig kubectl would use, when there is no --agent.
  const Outcome by_env =
      RunGpuslice({"top"}, dir + "/top.txt", {{"KUBECONFIG", kubeconfig("env", "s3cret")}});
  ASSERT_EQ(by_env.exit_code, 0) << by_env.output;
  EXPECT_THAT(by_env.output, HasSubstr("gpu-node-1"));
  RecordProperty("table", by_env.output);  // docs/observability.md shows it

  const Outcome refused =
      RunGpuslice({"top", "--kubeconfig", kubeconfig("bad", "wrong")}, dir + "/top.txt");
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_THAT(refused.output,
              HasSubstr("GET " + api.url() +
                        "/api/v1/pods?labelSelector=app.kubernetes.io%2Fname%3Dgpuslice&limit=500: "
                        "401: Unauthorized"));
}

// A port on the loopback that nothing listens on: bound, then closed.
int ClosedPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    close(fd);
    return -1;
  }
  close(fd);
  return ntohs(address.sin_port);
}

constexpr const char* kOneContainer =
    "gpuslice_container_memory_used_bytes{namespace=\"a\",pod=\"p\",container=\"c\","
    "gpu=\"GPU-9\",resource=\"nvidia.com/gpu\"} 1073741824\n";

class TopCommandTest : public ::testing::Test {
 protected:
  // Runs `gpuslice top` where kubectl's kubeconfig is a file that does not exist.
  Outcome Run(std::vector<std::string> args) {
    args.insert(args.begin(), "top");
    return RunGpuslice(args, dir_.Sub("out.txt"), {{"KUBECONFIG", dir_.Sub("no-kubeconfig")}});
  }
  TempDir dir_;
};

TEST_F(TopCommandTest, BadAgentUrlsAreUsageErrors) {
  for (const char* url : {"127.0.0.1", "http://host:0", "http://host:99999/metrics",
                          "https://host:9410", "ftp://host:21", "http://:9410"}) {
    const Outcome run = Run({"--agent", url});
    EXPECT_EQ(run.exit_code, 2) << url << ": " << run.output;
    EXPECT_THAT(run.output, HasSubstr(url)) << url;
  }
  // Without --agent it looks for the kubeconfig, as kubectl does.
  const Outcome none = Run({});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_THAT(none.output, HasSubstr(dir_.Sub("no-kubeconfig")));
  EXPECT_THAT(none.output, HasSubstr("--agent"));
  const Outcome interval = Run({"--agent", "http://h:1", "--watch", "--interval", "0"});
  EXPECT_EQ(interval.exit_code, 2);
  const Outcome help = Run({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.output, HasSubstr("--watch"));
  EXPECT_THAT(help.output, HasSubstr("--interval"));
}

TEST_F(TopCommandTest, AnAgentThatIsDownOrMalformedIsNamedAndTheOthersStillShow) {
  FakeHttpServer good;
  good.set_body(kOneContainer);
  good.Start();
  FakeHttpServer malformed;
  malformed.Start();
  malformed.set_body("# TYPE x gauge\ngpuslice_container_memory_used_bytes{pod=\"p} 1\n");
  const int closed = ClosedPort();
  ASSERT_GT(closed, 0);
  const std::string down = "http://127.0.0.1:" + std::to_string(closed) + "/metrics";
  const Outcome run =
      Run({"--agent", good.url(), "--agent", malformed.url(), "--agent", down, "--timeout", "10"});
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_THAT(run.output, HasSubstr("a/p"));
  EXPECT_THAT(run.output, HasSubstr(malformed.url() + "/metrics:2: label pod: a label value has "
                                                      "no closing quote"));
  EXPECT_THAT(run.output, HasSubstr(down + ": "));
}

TEST_F(TopCommandTest, WatchPrintsOneDocumentPerInterval) {
  FakeHttpServer agent;
  agent.set_body(kOneContainer);
  agent.Start();
  const Outcome run = Run(
      {"--agent", agent.url(), "--watch", "--interval", "0.2", "--iterations", "3", "-o", "json"});
  ASSERT_EQ(run.exit_code, 0) << run.output;
  std::istringstream in(run.output);
  int documents = 0;
  nlohmann::json document;
  while (in >> std::ws && in.peek() != EOF) {
    in >> document;
    ASSERT_EQ(document["containers"].size(), 1u) << run.output;
    EXPECT_EQ(document["containers"][0]["memoryUsedBytes"], 1ULL << 30);
    ++documents;
  }
  EXPECT_EQ(documents, 3);

  const Outcome table =
      Run({"--agent", agent.url(), "-w", "--interval", "0.1", "--iterations", "2"});
  ASSERT_EQ(table.exit_code, 0) << table.output;
  const size_t first = table.output.find("MEMORY USED / LIMIT");
  ASSERT_NE(first, std::string::npos) << table.output;
  EXPECT_NE(table.output.find("MEMORY USED / LIMIT", first + 1), std::string::npos) << table.output;
}

// An HTTPS API server stand-in that requires a client certificate: Python's http.server with
// its ssl module, serving a PodList of one agent and that agent's metrics through the pod
// proxy path. It writes the port it listens on to <dir>/port.
constexpr const char* kTlsApiServer = R"(import http.server, json, os, ssl, sys
d = sys.argv[1]
pods = {"kind": "PodList", "items": [{"metadata": {"namespace": "gpuslice", "name": "agent-1"},
        "spec": {"nodeName": "tls-node", "containers": [{"ports": [
            {"name": "metrics", "containerPort": 9410}]}]}, "status": {"phase": "Running"}}]}
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/api/v1/pods?labelSelector="):
            body = json.dumps(pods).encode()
        elif self.path == "/api/v1/namespaces/gpuslice/pods/agent-1:9410/proxy/metrics":
            body = open(os.path.join(d, "metrics.txt"), "rb").read()
        else:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(os.path.join(d, "server.pem"), os.path.join(d, "server.key"))
context.verify_mode = ssl.CERT_REQUIRED
context.load_verify_locations(os.path.join(d, "ca.pem"))
server.socket = context.wrap_socket(server.socket, server_side=True)
with open(os.path.join(d, "port.tmp"), "w") as f:
    f.write(str(server.server_address[1]))
os.rename(os.path.join(d, "port.tmp"), os.path.join(d, "port"))
server.serve_forever()
)";

TEST_F(TopCommandTest, ReadsAgentsThroughAnHttpsApiServerWithAClientCertificate) {
  if (std::system("openssl version >/dev/null 2>&1") != 0 ||
      std::system("python3 -c 'import ssl' >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "the TLS API server stand-in needs the openssl command and python3's ssl";
  }
  // A CA, and a server (for 127.0.0.1) and a client certificate it signs.
  const std::string d = dir_.path();
  std::ofstream(d + "/server.ext") << "subjectAltName=IP:127.0.0.1\n";
  const std::string key = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
  const std::string certs =
      "cd " + d + " && openssl req -x509" + key +
      " -keyout ca.key -out ca.pem -days 2 -subj /CN=test-ca && "
      "openssl req" +
      key +
      " -keyout server.key -out server.csr -subj /CN=127.0.0.1 && "
      "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
      "-out server.pem -days 2 -extfile server.ext && "
      "openssl req" +
      key +
      " -keyout client.key -out client.csr -subj /CN=tester && "
      "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
      "-out client.pem -days 2 && base64 -w0 ca.pem > ca.b64";
  ASSERT_EQ(std::system(("(" + certs + ") >/dev/null 2>&1").c_str()), 0) << certs;
  std::ofstream(d + "/metrics.txt") << kOneContainer;
  std::ofstream(d + "/server.py") << kTlsApiServer;
  Subprocess server({"/bin/sh", "-c", "exec python3 " + d + "/server.py " + d}, {},
                    d + "/server.log");
  std::string port;
  for (int i = 0; i < 3000 && port.empty(); ++i) {
    std::ifstream(d + "/port") >> port;
    if (port.empty()) std::this_thread::sleep_for(10ms);
  }
  ASSERT_FALSE(port.empty()) << server.Output();

  std::string ca_base64;
  std::ifstream(d + "/ca.b64") >> ca_base64;
  auto kubeconfig =
      [&](const std::string& name, const std::string& user) {
        std::ofstream(d + "/" + name)
            << "apiVersion: v1\nkind: Config\ncurrent-context: tls\n"
            << "contexts:\n- name: tls\n  context: {cluster: c, user: u}\n"
            << "clusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:" << port << "\n"
            << "    certificate-authority-data: " << ca_base64 << "\n"
            << "users:\n- name: u\n  user: " << user << "\n";
        return d + "/" + name;
      };
  // Certificate and key as files, relative to the kubeconfig.
  const Outcome run = Run({"--kubeconfig",
                           kubeconfig("good",
                                      "{client-certificate: client.pem, "
                                      "client-key: client.key}"),
                           "-o", "json"});
  ASSERT_EQ(run.exit_code, 0) << run.output << server.Output();
  const nlohmann::json document = nlohmann::json::parse(run.output);
  ASSERT_EQ(document["containers"].size(), 1u) << document.dump();
  EXPECT_EQ(document["containers"][0]["node"], "tls-node");
  EXPECT_EQ(document["containers"][0]["memoryUsedBytes"], 1ULL << 30);

  // Without a client certificate the server refuses the handshake; without the CA the client
  // refuses the server.
  const Outcome anonymous = Run({"--kubeconfig", kubeconfig("anonymous", "{}")});
  EXPECT_EQ(anonymous.exit_code, 1) << anonymous.output;
  EXPECT_THAT(anonymous.output, HasSubstr("https://127.0.0.1:" + port + "/api/v1/pods"));
  std::ofstream(d + "/untrusted")
      << "apiVersion: v1\nkind: Config\ncurrent-context: tls\n"
      << "contexts:\n- name: tls\n  context: {cluster: c, user: u}\n"
      << "clusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1:" << port << "'}\n"
      << "users:\n- name: u\n  user: {client-certificate: client.pem, client-key: "
         "client.key}\n";
  const Outcome untrusted = Run({"--kubeconfig", d + "/untrusted"});
  EXPECT_EQ(untrusted.exit_code, 1) << untrusted.output;
  EXPECT_THAT(untrusted.output, HasSubstr("certificate"));
}

}  // namespace
}  // namespace gpuslice::testing
