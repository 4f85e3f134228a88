// HTTP to the API server over libcurl: TLS and credentials from a ClusterConfig, a pool of
// reusable connections, retries with backoff for requests, and single-attempt streams for
// watches.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "kubeapi/client.h"
#include "kubeapi/cluster_config.h"

namespace gpuslice::kubeapi::internal {

struct HttpRequest {
  std::string method;  // GET, POST, PUT, PATCH, DELETE
  std::string target;  // path and query: "/api/v1/nodes?limit=500"
  std::string body;
  std::string content_type = "application/json";
  // Whether sending it twice is harmless: only these are retried after a connection broke
  // mid-request (a POST may have been applied before the connection dropped).
  bool idempotent = true;
  std::string accept = "application/json";
};

struct HttpResponse {
  long code = 0;
  std::string body;
};

// A bearer token from a file, re-read when the file changes (the kubelet replaces projected
// service-account tokens through a symlink swap) or when the server refused it. Thread-safe.
class TokenFile {
 public:
  explicit TokenFile(std::string path) : path_(std::move(path)) {}
  // The current token; `force` re-reads even if the file looks unchanged. Returns the read
  // error naming the file.
  Result<std::string> Get(bool force);

 private:
  std::string path_;
  std::mutex mutex_;
  std::string token_;
  // What identified the file last read: a change in any of them means a new token.
  uint64_t device_ = 0, inode_ = 0;
  int64_t size_ = -1, mtime_ns_ = 0;
};

// Thread-safe.
class HttpTransport {
 public:
  static Result<std::unique_ptr<HttpTransport>> Create(ClusterConfig config,
                                                       ClientOptions options);
  ~HttpTransport();

  // Sends `request`, retrying connection failures (see HttpRequest::idempotent), 429 and 5xx
  // with backoff, and a 401 once with a re-read token file. Returns the last response whatever
  // its code; Unavailable naming the URL and curl's reason when no response came.
  Result<HttpResponse> Send(const HttpRequest& request);

  // One attempt at a streaming GET. `on_data` gets the body as it arrives when the status is
  // 200 and may return false to end the stream (returns the code then, 200). `*error_body`
  // gets the body of any other status. Ends when the server closes, or when `stop` is set.
  Result<long> Stream(const HttpRequest& request,
                      const std::function<bool(std::string_view)>& on_data,
                      const std::atomic<bool>* stop, std::string* error_body);

  const ClusterConfig& config() const { return config_; }
  const ClientOptions& options() const { return options_; }

  // One request's state, shared with curl's callbacks (defined in the .cc file).
  struct Attempt;

 private:
  HttpTransport(ClusterConfig config, ClientOptions options);
  Status Perform(void* curl, const HttpRequest& request, bool force_token, Attempt& attempt);
  void* Acquire();
  void Release(void* curl);

  ClusterConfig config_;
  ClientOptions options_;
  std::unique_ptr<TokenFile> token_file_;
  std::mutex pool_mutex_;
  std::vector<void*> pool_;  // idle CURL easy handles; each keeps its connection open
};

}  // namespace gpuslice::kubeapi::internal
