#include "plugin/node_labels.h"

#include <curl/curl.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>

#include "io/file.h"

namespace gpuslice::plugin {
namespace {

constexpr const char* kServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";
// A Node object is a few kilobytes; anything far larger is not one.
constexpr size_t kMaxBody = 4 << 20;

size_t Append(char* data, size_t size, size_t count, void* out) {
  std::string& body = *static_cast<std::string*>(out);
  if (body.size() + size * count > kMaxBody) return 0;  // curl then fails the transfer
  body.append(data, size * count);
  return size * count;
}

std::string Trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.pop_back();
  }
  return text;
}

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

Result<ApiServerAccess> InClusterAccess() {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (host == nullptr || *host == '\0' || port == nullptr || *port == '\0') {
    return Status::FailedPrecondition(
        "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set: per-node configs need "
        "the agent to run in a pod");
  }
  const std::string address(host);
  // An IPv6 service address goes in brackets.
  const std::string server =
      "https://" + (address.find(':') != std::string::npos ? "[" + address + "]" : address) + ":" +
      port;
  return ApiServerAccess{server, std::string(kServiceAccountDir) + "/token",
                         std::string(kServiceAccountDir) + "/ca.crt"};
}

Result<std::map<std::string, std::string>> ReadNodeLabels(const ApiServerAccess& access,
                                                          const std::string& node,
                                                          std::chrono::milliseconds timeout) {
  if (!IsNodeName(node)) {
    return Status::InvalidArgument("\"" + node + "\" is not a node name");
  }
  // Once per process, before the first handle (curl_easy_init would do it less safely).
  static const CURLcode global = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (global != CURLE_OK) {
    return Status::Internal(std::string("curl_global_init: ") + curl_easy_strerror(global));
  }
  Result<std::string> token = io::ReadFile(access.token_file, 64 << 10);
  if (!token.ok())
    return Status::FailedPrecondition("service account token: " + token.status().message());
  const std::string url = access.server + "/api/v1/nodes/" + node + "?resourceVersion=0";

  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  if (curl == nullptr) return Status::Internal("curl_easy_init failed");
  const std::string authorization = "Authorization: Bearer " + Trimmed(*token);
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> headers(
      curl_slist_append(curl_slist_append(nullptr, authorization.c_str()),
                        "Accept: application/json"),
      curl_slist_free_all);
  std::string body;
  char error[CURL_ERROR_SIZE] = {};
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &Append);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https,http");
  if (!access.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, access.ca_file.c_str());
  const CURLcode result = curl_easy_perform(c);
  if (result != CURLE_OK) {
    return Status::Unavailable(
        "GET " + url + ": " + (error[0] != '\0' ? std::string(error) : curl_easy_strerror(result)));
  }
  long code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  const std::string what = "GET " + url + ": HTTP " + std::to_string(code);
  if (code == 401 || code == 403) {
    return Status::FailedPrecondition(what + " (the agent's service account needs get on nodes)");
  }
  if (code == 404) return Status::NotFound(what + ": node " + node + " does not exist");
  if (code != 200) return Status::Unavailable(what + ": " + body.substr(0, 200));
  try {
    const nlohmann::json object = nlohmann::json::parse(body);
    if (!object.is_object() || object.value("kind", "") != "Node") {
      return Status::InvalidArgument(what + ": the answer is not a Node");
    }
    std::map<std::string, std::string> labels;
    const nlohmann::json& metadata = object.at("metadata");
    if (!metadata.contains("labels")) return labels;
    for (const auto& [key, value] : metadata.at("labels").items()) {
      if (!value.is_string()) {
        return Status::InvalidArgument(what + ": label " + key + " is not a string");
      }
      labels[key] = value.get<std::string>();
    }
    return labels;
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidArgument(what + ": not a Node object: " + e.what());
  }
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
