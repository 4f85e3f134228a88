// The labels of the agent's own Node, read from the Kubernetes API server with the pod's
// service account, and a watcher that reports when one label changes: how a node label picks
// the node's config (per-node configs). One GET of /api/v1/nodes/<name> over libcurl.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "core/status.h"

namespace gpuslice::plugin {

// How to reach the API server.
struct ApiServerAccess {
  std::string server;      // "https://10.96.0.1:443"; http:// only for tests
  std::string token_file;  // bearer token, re-read on every request (tokens are rotated)
  std::string ca_file;     // CA bundle for https; empty: the system's
};

// The pod's in-cluster access: KUBERNETES_SERVICE_HOST and _PORT, and the service account's
// token and CA under /var/run/secrets/kubernetes.io/serviceaccount. FailedPrecondition saying
// what is missing when the agent does not run in a pod.
Result<ApiServerAccess> InClusterAccess();

// Reads metadata.labels of Node `node`. Unavailable for transport errors and 5xx, NotFound for
// 404, FailedPrecondition for 401/403 (naming the RBAC rule needed), InvalidArgument for a body
// that is not a Node. Served from the API server's cache (resourceVersion=0).
Result<std::map<std::string, std::string>> ReadNodeLabels(const ApiServerAccess& access,
                                                          const std::string& node,
                                                          std::chrono::milliseconds timeout);

// Reads the labels of a node: ReadNodeLabels, or a fake in tests.
using NodeLabelReader = std::function<Result<std::map<std::string, std::string>>()>;

struct NodeLabelWatcherOptions {
  std::string label;  // the label to follow, e.g. gpuslice.io/config
  std::chrono::milliseconds interval{std::chrono::seconds(10)};
};

// Polls the node's labels on a thread of its own and calls `on_change` with the label's value
// (nullopt: the node does not have it) after the first successful read and whenever it
// changes. Failed reads are logged (once per distinct error) and retried; the last value
// stands meanwhile. Thread-safe; `on_change` runs on the watcher's thread.
class NodeLabelWatcher {
 public:
  NodeLabelWatcher(NodeLabelWatcherOptions options, NodeLabelReader reader,
                   std::function<void(std::optional<std::string>)> on_change);
  ~NodeLabelWatcher();  // Stop()s

  void Start();
  void Stop();

 private:
  void Loop();

  NodeLabelWatcherOptions options_;
  NodeLabelReader reader_;
  std::function<void(std::optional<std::string>)> on_change_;
  std::mutex mutex_;
  std::condition_variable stop_requested_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace gpuslice::plugin
