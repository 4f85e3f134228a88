// ReadNodeLabels through kubeapi's client against a local HTTP server answering as the API
// server does, and the watcher's change reports against a scripted reader. The in-cluster TLS path runs in the e2e
// suite (tests/e2e/gpu_clusters_e2e_test.cc), on a real API server.
#include "plugin/node_labels.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <fstream>
#include <mutex>
#include <thread>
#include <vector>

#include "fakes/temp_dir.h"

namespace gpuslice::plugin {
namespace {

using namespace std::chrono_literals;

// A local stand-in for GET /api/v1/nodes/<name> on a free port.
class FakeApiServer {
 public:
  FakeApiServer() {
    server_.Get(R"(/api/v1/nodes/([^/]+))",
                [this](const httplib::Request& request, httplib::Response& response) {
                  std::lock_guard<std::mutex> lock(mutex_);
                  authorizations_.push_back(request.get_header_value("Authorization"));
                  queries_.push_back(request.get_param_value("resourceVersion"));
                  response.status = status_;
                  response.set_content(body_, "application/json");
                });
    // Bound means listening: requests queue until the thread accepts them.
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~FakeApiServer() {
    server_.stop();
    thread_.join();
  }

  void Answer(int status, std::string body) {
    std::lock_guard<std::mutex> lock(mutex_);
    status_ = status;
    body_ = std::move(body);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<std::string> authorizations() {
    std::lock_guard<std::mutex> lock(mutex_);
    return authorizations_;
  }
  std::vector<std::string> queries() {
    std::lock_guard<std::mutex> lock(mutex_);
    return queries_;
  }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mutex_;
  int status_ = 200;
  std::string body_;
  std::vector<std::string> authorizations_;
  std::vector<std::string> queries_;
};

// A client as the agent makes one: a service-account token file, one attempt per read.
std::unique_ptr<kubeapi::Client> ClientOf(const std::string& server, const std::string& token) {
  kubeapi::ClusterConfig config;
  config.server = server;
  config.token_file = token;
  config.source = "test";
  kubeapi::ClientOptions options;
  options.max_attempts = 1;
  options.request_timeout = 5s;
  Result<std::unique_ptr<kubeapi::Client>> client = kubeapi::Client::Create(config, options);
  EXPECT_TRUE(client.ok()) << client.status().ToString();
  return client.ok() ? std::move(*client) : nullptr;
}

class ReadNodeLabelsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ofstream(dir_.Sub("token")) << "secret-token\n";
    client_ = ClientOf(server_.url(), dir_.Sub("token"));
    ASSERT_NE(client_, nullptr);
  }
  Result<std::map<std::string, std::string>> Read(const std::string& node = "gpu-node-1") {
    return ReadNodeLabels(*client_, node);
  }

  testing::TempDir dir_;
  FakeApiServer server_;
  std::unique_ptr<kubeapi::Client> client_;
};

TEST_F(ReadNodeLabelsTest, ReadsTheNodesLabelsWithTheServiceAccountToken) {
  server_.Answer(200, R"({"kind":"Node","apiVersion":"v1","metadata":{"name":"gpu-node-1",
      "labels":{"gpuslice.io/config":"h100-quarters","kubernetes.io/os":"linux"}}})");
  Result<std::map<std::string, std::string>> labels = Read();
  ASSERT_TRUE(labels.ok()) << labels.status().ToString();
  EXPECT_EQ(labels->at("gpuslice.io/config"), "h100-quarters");
  EXPECT_EQ(labels->size(), 2u);
  // The token file's line, without its newline; served from the API server's cache.
  EXPECT_EQ(server_.authorizations().back(), "Bearer secret-token");
  EXPECT_EQ(server_.queries().back(), "0");

  server_.Answer(200, R"({"kind":"Node","metadata":{"name":"gpu-node-1"}})");
  labels = Read();
  ASSERT_TRUE(labels.ok()) << labels.status().ToString();
  EXPECT_TRUE(labels->empty());
}

TEST_F(ReadNodeLabelsTest, NamesWhatWentWrong) {
  struct Case {
    int status;
    std::string body;
    StatusCode code;
    std::string says;
  };
  const Case cases[] = {
      {403, R"({"kind":"Status"})", StatusCode::kFailedPrecondition, "needs get on nodes"},
      {404, R"({"kind":"Status"})", StatusCode::kNotFound, "/api/v1/nodes/gpu-node-1"},
      {500, "etcd is down", StatusCode::kUnavailable, "500: etcd is down"},
      {200, "not json", StatusCode::kInternal, "not JSON"},
      {200, R"({"kind":"Pod","metadata":{}})", StatusCode::kInvalidArgument, "not a Node"},
      {200, R"({"kind":"Node","metadata":{"labels":{"a":1}}})", StatusCode::kInvalidArgument,
       "label a is not a string"},
      {200, R"({"kind":"Node"})", StatusCode::kInvalidArgument, "has no metadata"},
      {200, R"({"kind":"Node","metadata":{"labels":[]}})", StatusCode::kInvalidArgument,
       "metadata.labels is not a map"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.body);
    server_.Answer(c.status, c.body);
    Result<std::map<std::string, std::string>> labels = Read();
    ASSERT_FALSE(labels.ok());
    EXPECT_EQ(labels.status().code(), c.code) << labels.status().ToString();
    EXPECT_NE(labels.status().message().find(c.says), std::string::npos)
        << labels.status().message();
  }
  EXPECT_EQ(Read("../../secrets").status().code(), StatusCode::kInvalidArgument);
  std::unique_ptr<kubeapi::Client> unreachable = ClientOf("http://127.0.0.1:1", dir_.Sub("token"));
  ASSERT_NE(unreachable, nullptr);
  EXPECT_EQ(ReadNodeLabels(*unreachable, "n").status().code(), StatusCode::kUnavailable);
}

TEST(NodeLabelWatcher, ReportsTheFirstValueAndEveryChangeOnly) {
  std::mutex mutex;
  std::vector<Result<std::map<std::string, std::string>>> script = {
      Status::Unavailable("API server down"),
      std::map<std::string, std::string>{{"other", "x"}},
      std::map<std::string, std::string>{{"other", "y"}},
      std::map<std::string, std::string>{{"gpuslice.io/config", "a"}},
      Status::Unavailable("API server down"),
      std::map<std::string, std::string>{{"gpuslice.io/config", "a"}},
      std::map<std::string, std::string>{{"gpuslice.io/config", "b"}},
  };
  size_t next = 0;
  std::vector<std::optional<std::string>> reported;
  NodeLabelWatcher watcher(
      {"gpuslice.io/config", 1ms},
      [&]() -> Result<std::map<std::string, std::string>> {
        std::lock_guard<std::mutex> lock(mutex);
        return script[std::min(next++, script.size() - 1)];
      },
      [&](std::optional<std::string> value) {
        std::lock_guard<std::mutex> lock(mutex);
        reported.push_back(value);
      });
  watcher.Start();
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (next > script.size() + 2) break;
    }
    std::this_thread::sleep_for(1ms);
  }
  watcher.Stop();
  EXPECT_EQ(reported, (std::vector<std::optional<std::string>>{std::nullopt, "a", "b"}));
}

}  // namespace
}  // namespace gpuslice::plugin
