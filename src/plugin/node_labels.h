// The labels of the agent's own Node, read from the Kubernetes API server with the pod's
// service account (kubeapi), and a watcher that reports when one label changes: how a node
// label picks the node's config (per-node configs).
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
#include "kubeapi/client.h"

namespace gpuslice::plugin {

// Reads metadata.labels of Node `node`, from the API server's cache (resourceVersion=0): every
// node polls it. kubeapi's errors, with FailedPrecondition (401/403) naming the RBAC rule
// needed; InvalidArgument for a node name that is not one and for a body that is not a Node.
Result<std::map<std::string, std::string>> ReadNodeLabels(kubeapi::Client& client,
                                                          const std::string& node);

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
