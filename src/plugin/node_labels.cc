#include "plugin/node_labels.h"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "kubeapi/resource.h"

namespace gpuslice::plugin {
namespace {

// Node names are DNS subdomains: nothing in them needs escaping in a URL path, and anything
// else is refused before it reaches one.
bool IsNodeName(const std::string& name) {
  if (name.empty() || name.size() > 253) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) return false;
  }
  return true;
}

}  // namespace

Result<std::map<std::string, std::string>> ReadNodeLabels(kubeapi::Client& client,
                                                          const std::string& node) {
  if (!IsNodeName(node)) {
    return Status::InvalidArgument("\"" + node + "\" is not a node name");
  }
  Result<nlohmann::json> object = client.Get(kubeapi::types::kNodes, "", node, {.resource_version = "0"});
  if (!object.ok()) {
    if (object.status().code() == StatusCode::kFailedPrecondition) {
      return Status::FailedPrecondition(object.status().message() +
                                        " (the agent's service account needs get on nodes)");
    }
    return object.status();
  }
  const std::string what = "node " + node;
  if (!object->is_object() || object->value("kind", "") != "Node") {
    return Status::InvalidArgument(what + ": the answer is not a Node");
  }
  std::map<std::string, std::string> labels;
  const auto metadata = object->find("metadata");
  if (metadata == object->end() || !metadata->is_object()) {
    return Status::InvalidArgument(what + ": the Node has no metadata");
  }
  const auto found = metadata->find("labels");
  if (found == metadata->end() || found->is_null()) return labels;
  if (!found->is_object()) return Status::InvalidArgument(what + ": metadata.labels is not a map");
  for (const auto& [key, value] : found->items()) {
    if (!value.is_string()) {
      return Status::InvalidArgument(what + ": label " + key + " is not a string");
    }
    labels[key] = value.get<std::string>();
  }
  return labels;
}

NodeLabelWatcher::NodeLabelWatcher(NodeLabelWatcherOptions options, NodeLabelReader reader,
                                   std::function<void(std::optional<std::string>)> on_change)
    : options_(std::move(options)), reader_(std::move(reader)), on_change_(std::move(on_change)) {}

NodeLabelWatcher::~NodeLabelWatcher() { Stop(); }

void NodeLabelWatcher::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void NodeLabelWatcher::Stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  stop_requested_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void NodeLabelWatcher::Loop() {
  bool known = false;
  std::optional<std::string> last;
  std::string last_error;
  while (true) {
    Result<std::map<std::string, std::string>> labels = reader_();
    if (!labels.ok()) {
      if (labels.status().message() != last_error) {
        spdlog::error("reading the node's labels: {} (retrying every {} ms)",
                      labels.status().message(), options_.interval.count());
        last_error = labels.status().message();
      }
    } else {
      last_error.clear();
      const auto it = labels->find(options_.label);
      std::optional<std::string> value;
      if (it != labels->end()) value = it->second;
      if (!known || value != last) {
        known = true;
        last = value;
        on_change_(value);
      }
    }
    std::unique_lock<std::mutex> lock(mutex_);
    if (stop_requested_.wait_for(lock, options_.interval, [this] { return stop_; })) return;
  }
}

}  // namespace gpuslice::plugin
