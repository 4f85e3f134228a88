// The client against a small HTTP server (cpp-httplib) that answers the way a troubled API
// server does: 5xx and 429 answers, refused connections, conflicts, paged lists, watches that
// end, expire or hang, rotated tokens. The same client against the real kube-apiserver is in
// apiserver_test.cc.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/stat.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <thread>

#include "fakes/temp_dir.h"
#include "kubeapi/client.h"

namespace gpuslice::kubeapi {
namespace {

using ::testing::HasSubstr;
using nlohmann::json;

const ResourceType kConfigMaps = types::kConfigMaps;

// An httplib server on a free loopback port, served from its own thread.
class FakeApiServer {
 public:
  FakeApiServer() {
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // stop() is a no-op until the server runs: wait for it, or the destructor would hang.
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~FakeApiServer() {
    release_.store(true);
    server_.stop();
    thread_.join();
  }
  httplib::Server& server() { return server_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // Hanging handlers poll this to let the server stop.
  const std::atomic<bool>& released() const { return release_; }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::atomic<bool> release_{false};
};

ClientOptions FastOptions(int attempts = 4) {
  ClientOptions options;
  options.max_attempts = attempts;
  options.backoff_initial = std::chrono::milliseconds(1);
  options.backoff_max = std::chrono::milliseconds(5);
  options.request_timeout = std::chrono::seconds(20);
  return options;
}

std::unique_ptr<Client> Connect(const std::string& url, ClientOptions options = FastOptions(),
                                ClusterConfig config = {}) {
  config.server = url;
  config.source = "test";
  Result<std::unique_ptr<Client>> client = Client::Create(std::move(config), std::move(options));
  EXPECT_TRUE(client.ok()) << client.status().ToString();
  return client.ok() ? std::move(*client) : nullptr;
}

std::string ApiStatus(int code, const std::string& reason, const std::string& message) {
  return json{{"kind", "Status"}, {"apiVersion", "v1"}, {"status", "Failure"},
              {"code", code},     {"reason", reason},   {"message", message}}
      .dump();
}

json ConfigMap(const std::string& name, const std::string& version, int counter) {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}, {"namespace", "ns"}, {"resourceVersion", version}}},
          {"data", {{"counter", std::to_string(counter)}}}};
}

TEST(ClientFaults, ServerErrorsAreRetriedUntilAnAnswer) {
  FakeApiServer api;
  std::atomic<int> calls{0};
  api.server().Get("/api/v1/namespaces/ns/configmaps/a", [&](const auto&, auto& res) {
    if (++calls < 3) {
      res.status = 503;
      res.set_content(ApiStatus(503, "ServiceUnavailable", "etcd is busy"), "application/json");
      return;
    }
    res.set_content(ConfigMap("a", "7", 1).dump(), "application/json");
  });
  auto client = Connect(api.url());
  Result<json> object = client->Get(kConfigMaps, "ns", "a");
  ASSERT_TRUE(object.ok()) << object.status().ToString();
  EXPECT_EQ((*object)["metadata"]["resourceVersion"], "7");
  EXPECT_EQ(calls.load(), 3);
}

TEST(ClientFaults, TooManyRequestsHonoursRetryAfter) {
  FakeApiServer api;
  std::atomic<int> calls{0};
  api.server().Get("/api/v1/nodes", [&](const auto&, auto& res) {
    if (++calls == 1) {
      res.status = 429;
      res.set_header("Retry-After", "0");
      res.set_content(ApiStatus(429, "TooManyRequests", "slow down"), "application/json");
      return;
    }
    res.set_content(R"({"kind":"NodeList","metadata":{"resourceVersion":"3"},"items":[]})",
                    "application/json");
  });
  auto client = Connect(api.url());
  Result<json> list = client->List(types::kNodes, "");
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  EXPECT_EQ(calls.load(), 2);
}

TEST(ClientFaults, PersistentServerErrorsEndUnavailableWithTheServersMessage) {
  FakeApiServer api;
  std::atomic<int> calls{0};
  api.server().Get("/api/v1/nodes/n", [&](const auto&, auto& res) {
    ++calls;
    res.status = 500;
    res.set_content(ApiStatus(500, "InternalError", "etcd is down"), "application/json");
  });
  auto client = Connect(api.url(), FastOptions(3));
  Result<json> node = client->Get(types::kNodes, "", "n");
  ASSERT_FALSE(node.ok());
  EXPECT_EQ(node.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(node.status().message(), HasSubstr("etcd is down"));
  EXPECT_THAT(node.status().message(),
              HasSubstr("GET " + api.url() + "/api/v1/nodes/n: 500 InternalError"));
  EXPECT_EQ(calls.load(), 3);
}

TEST(ClientFaults, UnreachableServerIsUnavailableAfterEveryAttempt) {
  std::string url;
  {
    FakeApiServer api;  // a port that was free a moment ago and is closed now
    url = api.url();
  }
  auto client = Connect(url, FastOptions(3));
  Result<json> node = client->Get(types::kNodes, "", "n");
  ASSERT_FALSE(node.ok());
  EXPECT_EQ(node.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(node.status().message(), HasSubstr("after 3 attempts"));
  EXPECT_THAT(node.status().message(), HasSubstr(url));
}

TEST(ClientFaults, ApiErrorsMapToStatusCodes) {
  FakeApiServer api;
  api.server().Get("/api/v1/namespaces/ns/configmaps/missing", [](const auto&, auto& res) {
    res.status = 404;
    res.set_content(ApiStatus(404, "NotFound", "configmaps \"missing\" not found"),
                    "application/json");
  });
  api.server().Post("/api/v1/namespaces/ns/configmaps", [](const auto& req, auto& res) {
    const json body = json::parse(req.body);
    const std::string name = body["metadata"]["name"];
    if (name == "exists") {
      res.status = 409;
      res.set_content(ApiStatus(409, "AlreadyExists", "configmaps \"exists\" already exists"),
                      "application/json");
    } else if (name == "forbidden") {
      res.status = 403;
      res.set_content(ApiStatus(403, "Forbidden", "user alice cannot create configmaps"),
                      "application/json");
    } else {
      res.status = 422;
      res.set_content(ApiStatus(422, "Invalid", "metadata.name: Invalid value"),
                      "application/json");
    }
  });
  api.server().Delete("/api/v1/namespaces/ns/configmaps/gone", [](const auto&, auto& res) {
    res.status = 404;
    res.set_content("plain text, not JSON", "text/plain");
  });
  auto client = Connect(api.url());
  Result<json> missing = client->Get(kConfigMaps, "ns", "missing");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("configmaps \"missing\" not found"));
  EXPECT_EQ(client->Create(kConfigMaps, "ns", ConfigMap("exists", "", 0)).status().code(),
            StatusCode::kAlreadyExists);
  Result<json> forbidden = client->Create(kConfigMaps, "ns", ConfigMap("forbidden", "", 0));
  EXPECT_EQ(forbidden.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(forbidden.status().message(), HasSubstr("403 Forbidden: user alice"));
  EXPECT_EQ(client->Create(kConfigMaps, "ns", ConfigMap("BAD", "", 0)).status().code(),
            StatusCode::kInvalidArgument);
  const Status gone = client->Delete(kConfigMaps, "ns", "gone");
  EXPECT_EQ(gone.code(), StatusCode::kNotFound);
  EXPECT_THAT(gone.message(), HasSubstr("plain text, not JSON"));
}

TEST(ClientFaults, MutateReadsAgainAndReappliesAfterAConflict) {
  FakeApiServer api;
  std::atomic<int> gets{0}, puts{0};
  api.server().Get("/api/v1/namespaces/ns/configmaps/c", [&](const auto&, auto& res) {
    const int n = ++gets;
    // Someone else writes between our first read and our write.
    res.set_content(ConfigMap("c", std::to_string(10 + n), n == 1 ? 1 : 5).dump(),
                    "application/json");
  });
  std::vector<json> written;
  std::mutex written_mutex;
  api.server().Put("/api/v1/namespaces/ns/configmaps/c", [&](const auto& req, auto& res) {
    const json body = json::parse(req.body);
    {
      std::lock_guard<std::mutex> lock(written_mutex);
      written.push_back(body);
    }
    if (++puts == 1) {
      res.status = 409;
      res.set_content(ApiStatus(409, "Conflict", "the object has been modified"),
                      "application/json");
      return;
    }
    res.set_content(body.dump(), "application/json");
  });
  auto client = Connect(api.url());
  int mutations = 0;
  Result<json> result = client->Mutate(kConfigMaps, "ns", "c", [&](json& object) {
    ++mutations;
    const int counter = std::stoi(object["data"]["counter"].get<std::string>());
    object["data"]["counter"] = std::to_string(counter + 1);
    return Status::Ok();
  });
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(mutations, 2);
  ASSERT_EQ(written.size(), 2u);
  EXPECT_EQ(written[0]["metadata"]["resourceVersion"], "11");
  EXPECT_EQ(written[1]["metadata"]["resourceVersion"], "12");
  EXPECT_EQ(written[1]["data"]["counter"], "6");
  EXPECT_EQ((*result)["data"]["counter"], "6");
}

TEST(ClientFaults, MutateThatChangesNothingWritesNothingAndErrorsStopIt) {
  FakeApiServer api;
  std::atomic<int> puts{0};
  api.server().Get("/api/v1/namespaces/ns/configmaps/c", [&](const auto&, auto& res) {
    res.set_content(ConfigMap("c", "4", 1).dump(), "application/json");
  });
  api.server().Put("/api/v1/namespaces/ns/configmaps/c", [&](const auto&, auto& res) {
    ++puts;
    res.status = 500;
  });
  auto client = Connect(api.url());
  Result<json> unchanged =
      client->Mutate(kConfigMaps, "ns", "c", [](json&) { return Status::Ok(); });
  ASSERT_TRUE(unchanged.ok()) << unchanged.status().ToString();
  Result<json> refused = client->Mutate(kConfigMaps, "ns", "c", [](json& object) {
    object["data"]["counter"] = "2";
    return Status::FailedPrecondition("not today");
  });
  EXPECT_EQ(refused.status(), Status::FailedPrecondition("not today"));
  EXPECT_EQ(puts.load(), 0);
}

TEST(ClientFaults, ListFollowsContinueTokensAndPatchSendsItsContentType) {
  FakeApiServer api;
  api.server().Get("/apis/resource.k8s.io/v1/resourceslices", [](const auto& req, auto& res) {
    EXPECT_EQ(req.get_param_value("limit"), "2");
    EXPECT_EQ(req.get_param_value("fieldSelector"), "spec.nodeName=n1,spec.driver=gpu.x");
    const std::string token = req.get_param_value("continue");
    json page = {{"kind", "ResourceSliceList"},
                 {"metadata", {{"resourceVersion", token.empty() ? "100" : "999"}}}};
    if (token.empty()) {
      page["items"] = json::array({{{"metadata", {{"name", "a"}}}}, {{"metadata", {{"name", "b"}}}}});
      page["metadata"]["continue"] = "page-2";
    } else {
      EXPECT_EQ(token, "page-2");
      page["items"] = json::array({{{"metadata", {{"name", "c"}}}}});
    }
    res.set_content(page.dump(), "application/json");
  });
  std::string patch_type;
  api.server().Patch("/apis/resource.k8s.io/v1/namespaces/ns/resourceclaims/claim/status",
                     [&](const auto& req, auto& res) {
                       patch_type = req.get_header_value("Content-Type");
                       res.set_content(req.body, "application/json");
                     });
  auto client = Connect(api.url());
  ListOptions options;
  options.page_size = 2;
  options.field_selector = "spec.nodeName=n1,spec.driver=gpu.x";
  Result<json> list = client->List(types::kResourceSlices, "", options);
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  ASSERT_EQ((*list)["items"].size(), 3u);
  EXPECT_EQ((*list)["items"][2]["metadata"]["name"], "c");
  EXPECT_EQ((*list)["metadata"]["resourceVersion"], "100");
  EXPECT_FALSE((*list)["metadata"].contains("continue"));

  Result<json> patched = client->Patch(types::kResourceClaims, "ns", "claim", PatchType::kMerge,
                                       {{"status", {{"devices", json::array()}}}}, "status");
  ASSERT_TRUE(patched.ok()) << patched.status().ToString();
  EXPECT_EQ(patch_type, "application/merge-patch+json");
}

// Streams `events` (each a JSON line), cut into pieces that split lines, then ends the body.
void StreamEvents(httplib::Response& res, std::vector<std::string> events) {
  std::string body;
  for (const std::string& event : events) body += event + "\n";
  res.set_chunked_content_provider("application/json", [body](size_t, httplib::DataSink& sink) {
    for (size_t at = 0; at < body.size(); at += 7) {
      sink.write(body.data() + at, std::min<size_t>(7, body.size() - at));
    }
    sink.done();
    return true;
  });
}

TEST(ClientFaults, WatchDeliversEventsUntilTheServerEndsIt) {
  FakeApiServer api;
  api.server().Get("/api/v1/namespaces/ns/configmaps", [](const auto& req, auto& res) {
    EXPECT_EQ(req.get_param_value("watch"), "true");
    EXPECT_EQ(req.get_param_value("resourceVersion"), "41");
    StreamEvents(res, {json{{"type", "ADDED"}, {"object", ConfigMap("a", "42", 1)}}.dump(),
                       json{{"type", "MODIFIED"}, {"object", ConfigMap("a", "43", 2)}}.dump(),
                       json{{"type", "BOOKMARK"},
                            {"object", {{"metadata", {{"resourceVersion", "50"}}}}}}
                           .dump()});
  });
  auto client = Connect(api.url());
  std::vector<std::string> seen;
  WatchOptions options;
  options.resource_version = "41";
  Result<WatchEnd> end = client->Watch(kConfigMaps, "ns", options, [&](const WatchEvent& event) {
    seen.push_back(event.type + " " + event.object["metadata"]["resourceVersion"].get<std::string>());
    return true;
  });
  ASSERT_TRUE(end.ok()) << end.status().ToString();
  EXPECT_EQ(*end, WatchEnd::kClosed);
  EXPECT_THAT(seen, ::testing::ElementsAre("ADDED 42", "MODIFIED 43", "BOOKMARK 50"));
}

TEST(ClientFaults, ResponsesAndWatchEventsPastTheirBoundsEndResourceExhausted) {
  FakeApiServer api;
  const std::string big = ConfigMap(std::string(2000, 'a'), "1", 1).dump();
  api.server().Get("/api/v1/namespaces/ns/configmaps/big", [&](const auto&, auto& res) {
    res.set_content(big, "application/json");
  });
  api.server().Get("/api/v1/namespaces/ns/configmaps", [&](const auto&, auto& res) {
    StreamEvents(res, {json{{"type", "ADDED"}, {"object", json::parse(big)}}.dump()});
  });
  ClientOptions options = FastOptions();
  options.max_response_bytes = 1024;
  options.max_watch_event_bytes = 1024;
  auto client = Connect(api.url(), options);
  Result<json> object = client->Get(kConfigMaps, "ns", "big");
  ASSERT_FALSE(object.ok());
  EXPECT_EQ(object.status().code(), StatusCode::kResourceExhausted);
  EXPECT_THAT(object.status().message(), HasSubstr("larger than 1024 bytes"));
  Result<WatchEnd> end =
      client->Watch(kConfigMaps, "ns", WatchOptions{}, [](const WatchEvent&) { return true; });
  ASSERT_FALSE(end.ok());
  EXPECT_EQ(end.status().code(), StatusCode::kResourceExhausted);
  EXPECT_THAT(end.status().message(), HasSubstr("an event is larger than 1024 bytes"));
}

TEST(ClientFaults, WatchEndsExpiredOnGoneAndStoppedWhenTheCallerSaysSo) {
  FakeApiServer api;
  api.server().Get("/api/v1/namespaces/old/configmaps", [](const auto&, auto& res) {
    StreamEvents(res, {json{{"type", "ERROR"},
                            {"object", json::parse(ApiStatus(410, "Expired", "too old"))}}
                           .dump()});
  });
  api.server().Get("/api/v1/namespaces/gone/configmaps", [](const auto&, auto& res) {
    res.status = 410;
    res.set_content(ApiStatus(410, "Gone", "too old resource version"), "application/json");
  });
  api.server().Get("/api/v1/namespaces/ns/configmaps", [](const auto&, auto& res) {
    StreamEvents(res, {json{{"type", "ADDED"}, {"object", ConfigMap("a", "1", 1)}}.dump(),
                       json{{"type", "ADDED"}, {"object", ConfigMap("b", "2", 1)}}.dump()});
  });
  api.server().Get("/api/v1/namespaces/bad/configmaps", [](const auto&, auto& res) {
    StreamEvents(res, {"{not json"});
  });
  auto client = Connect(api.url());
  const auto always = [](const WatchEvent&) { return true; };
  EXPECT_EQ(*client->Watch(kConfigMaps, "old", {}, always), WatchEnd::kExpired);
  EXPECT_EQ(*client->Watch(kConfigMaps, "gone", {}, always), WatchEnd::kExpired);
  int events = 0;
  Result<WatchEnd> stopped = client->Watch(kConfigMaps, "ns", {}, [&](const WatchEvent&) {
    ++events;
    return false;
  });
  EXPECT_EQ(*stopped, WatchEnd::kStopped);
  EXPECT_EQ(events, 1);
  Result<WatchEnd> bad = client->Watch(kConfigMaps, "bad", {}, always);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("not JSON"));
}

TEST(ClientFaults, WatchOfASilentServerEndsWhenStopIsSet) {
  FakeApiServer api;
  const std::atomic<bool>& released = api.released();
  api.server().Get("/api/v1/namespaces/ns/configmaps", [&](const auto&, auto& res) {
    res.set_chunked_content_provider("application/json", [&](size_t, httplib::DataSink& sink) {
      const std::string line =
          json{{"type", "ADDED"}, {"object", ConfigMap("a", "1", 1)}}.dump() + "\n";
      sink.write(line.data(), line.size());
      // Then nothing, as a watch with no changes, until the server shuts down.
      while (!released.load() && sink.is_writable()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      sink.done();
      return true;
    });
  });
  auto client = Connect(api.url());
  std::atomic<bool> stop{false};
  std::atomic<int> events{0};
  std::thread watcher([&] {
    Result<WatchEnd> end = client->Watch(
        kConfigMaps, "ns", {},
        [&](const WatchEvent&) {
          ++events;
          return true;
        },
        &stop);
    ASSERT_TRUE(end.ok()) << end.status().ToString();
    EXPECT_EQ(*end, WatchEnd::kStopped);
  });
  while (events.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  stop.store(true);
  watcher.join();
}

TEST(ClientFaults, TokenFileIsReadAgainWhenItChangesAndAfterA401) {
  FakeApiServer api;
  std::atomic<int> refused{0};
  std::string accepted = "Bearer token-one";
  std::mutex accepted_mutex;
  api.server().Get("/api/v1/nodes/n", [&](const auto& req, auto& res) {
    std::lock_guard<std::mutex> lock(accepted_mutex);
    if (req.get_header_value("Authorization") != accepted) {
      ++refused;
      res.status = 401;
      res.set_content(ApiStatus(401, "Unauthorized", "Unauthorized"), "application/json");
      return;
    }
    res.set_content(R"({"kind":"Node","metadata":{"name":"n"}})", "application/json");
  });
  testing::TempDir dir;
  const std::string token_path = dir.Sub("token");
  std::ofstream(token_path) << "token-one\n";
  ClusterConfig config;
  config.token_file = token_path;
  auto client = Connect(api.url(), FastOptions(), config);
  ASSERT_TRUE(client->Get(types::kNodes, "", "n").ok());

  // Rotated the kubelet's way (a new file renamed into place): the next request uses it.
  std::ofstream(dir.Sub("token.new")) << "token-two\n";
  ASSERT_EQ(std::rename(dir.Sub("token.new").c_str(), token_path.c_str()), 0);
  {
    std::lock_guard<std::mutex> lock(accepted_mutex);
    accepted = "Bearer token-two";
  }
  ASSERT_TRUE(client->Get(types::kNodes, "", "n").ok());
  EXPECT_EQ(refused.load(), 0);

  // Rewritten in place with the same size and time stamp: only the 401 shows it changed.
  struct stat before {};
  ASSERT_EQ(stat(token_path.c_str(), &before), 0);
  {
    std::fstream file(token_path, std::ios::in | std::ios::out);
    file << "token-six";
  }
  const timespec times[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(utimensat(AT_FDCWD, token_path.c_str(), times, 0), 0);
  {
    std::lock_guard<std::mutex> lock(accepted_mutex);
    accepted = "Bearer token-six";
  }
  Result<json> node = client->Get(types::kNodes, "", "n");
  ASSERT_TRUE(node.ok()) << node.status().ToString();
  EXPECT_EQ(refused.load(), 1);

  // A token the server keeps refusing is a clear error, not a loop.
  {
    std::lock_guard<std::mutex> lock(accepted_mutex);
    accepted = "Bearer never";
  }
  Result<json> denied = client->Get(types::kNodes, "", "n");
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(denied.status().message(), HasSubstr("401 Unauthorized"));
}

TEST(ClientFaults, BasicAuthenticationAndGetTextOfAProxiedPath) {
  FakeApiServer api;
  const std::string path = "/api/v1/namespaces/ns/pods/agent:9410/proxy/metrics";
  // "alice:s3 cret" in base64, as RFC 7617 sends it.
  const std::string expected = "Basic YWxpY2U6czMgY3JldA==";
  api.server().Get(path, [&](const httplib::Request& req, httplib::Response& res) {
    if (req.get_header_value("Authorization") != expected) {
      res.status = 401;
      res.set_content(ApiStatus(401, "Unauthorized", "who are you"), "application/json");
      return;
    }
    res.set_content("# TYPE up gauge\nup 1\n", "text/plain");
  });
  ClusterConfig config;
  config.username = "alice";
  config.password = "s3 cret";
  auto client = Connect(api.url(), FastOptions(), config);
  Result<std::string> text = client->GetText(path);
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  EXPECT_EQ(*text, "# TYPE up gauge\nup 1\n");

  config.password = "wrong";
  Result<std::string> denied = Connect(api.url(), FastOptions(), config)->GetText(path);
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(denied.status().message(),
              HasSubstr("GET " + api.url() + path + ": 401 Unauthorized: who are you"));
}

TEST(ClientFaults, MissingCredentialFilesAreReportedBeforeAnyRequest) {
  ClusterConfig config;
  config.server = "https://127.0.0.1:1";
  config.source = "kubeconfig /k";
  config.ca_file = "/nonexistent/ca.crt";
  Result<std::unique_ptr<Client>> client = Client::Create(config);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(client.status().message(), HasSubstr("/nonexistent/ca.crt"));
  config.ca_file.clear();
  config.server = "127.0.0.1:6443";
  EXPECT_EQ(Client::Create(config).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace gpuslice::kubeapi
