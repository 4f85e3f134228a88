#include "cli/kube_agents.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <tuple>

#include "core/yaml_load.h"
#include "io/file.h"

namespace gpuslice::cli {
namespace {

// Kubeconfigs carry certificates and keys base64-encoded (RFC 4648, with padding).
Result<std::string> DecodeBase64(const std::string& text, const std::string& field) {
  std::string out;
  uint32_t bits = 0;
  int count = 0;
  size_t padding = 0;
  for (const char c : text) {
    int value = -1;
    if (c >= 'A' && c <= 'Z') value = c - 'A';
    if (c >= 'a' && c <= 'z') value = c - 'a' + 26;
    if (c >= '0' && c <= '9') value = c - '0' + 52;
    if (c == '+') value = 62;
    if (c == '/') value = 63;
    if (c == '=') {
      ++padding;
      continue;
    }
    if (c == '\n' || c == '\r' || c == ' ') continue;
    if (value < 0 || padding > 0) {
      return Status::InvalidArgument(field + ": not base64 (character '" + std::string(1, c) +
                                     "')");
    }
    bits = (bits << 6) | static_cast<uint32_t>(value);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out += static_cast<char>((bits >> count) & 0xff);
    }
  }
  if (padding > 2) return Status::InvalidArgument(field + ": not base64 (too much padding)");
  return out;
}

// A named entry of one of a kubeconfig's lists (clusters, users, contexts).
Result<YAML::Node> Named(const YAML::Node& root, const std::string& list, const std::string& item,
                         const std::string& name, const std::string& source) {
  const YAML::Node entries = root[list];
  if (entries && entries.IsSequence()) {
    for (const YAML::Node& entry : entries) {
      if (entry.IsMap() && entry["name"] && entry["name"].IsScalar() &&
          entry["name"].Scalar() == name && entry[item] && entry[item].IsMap()) {
        return entry[item];
      }
    }
  }
  return Status::InvalidArgument(source + ": " + list + ": no " + item + " named \"" + name + "\"");
}

std::string Scalar(const YAML::Node& node, const char* key) {
  return node[key] && node[key].IsScalar() ? node[key].Scalar() : "";
}

// A PEM from `<key>-data` (base64) or from the file `<key>` names, relative to `dir`; empty
// when neither is set. `where` names the cluster or user in messages.
Result<std::string> Material(const YAML::Node& node, const std::string& key, const std::string& dir,
                             const std::string& where) {
  const std::string data = Scalar(node, (key + "-data").c_str());
  if (!data.empty()) return DecodeBase64(data, where + ": " + key + "-data");
  std::string path = Scalar(node, key.c_str());
  if (path.empty()) return std::string();
  if (std::filesystem::path(path).is_relative()) path = dir + "/" + path;
  Result<std::string> text = io::ReadFile(path, 1u << 20);
  if (!text.ok()) return text.status().WithContext(where + ": " + key);
  return text;
}

std::string DefaultKubeconfigPath() {
  if (const char* env = std::getenv("KUBECONFIG"); env != nullptr && *env != '\0') {
    const std::string list(env);
    return list.substr(0, list.find(':'));
  }
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr ? home : "") + "/.kube/config";
}

struct Sink {
  std::string body;
  size_t max_bytes = 0;
  bool too_big = false;
};

size_t Append(char* data, size_t size, size_t count, void* user) {
  auto* sink = static_cast<Sink*>(user);
  const size_t length = size * count;
  if (sink->body.size() + length > sink->max_bytes) {
    sink->too_big = true;
    return 0;  // curl stops with CURLE_WRITE_ERROR
  }
  sink->body.append(data, length);
  return length;
}

}  // namespace

Result<KubeConfig> ReadKubeConfig(const std::string& path_flag, const std::string& context_flag) {
  KubeConfig config;
  config.source = path_flag.empty() ? DefaultKubeconfigPath() : path_flag;
  const std::string& source = config.source;
  Result<std::string> text = io::ReadFile(source, 16u << 20);
  if (!text.ok()) return text.status();
  Result<YAML::Node> root = core::LoadYaml(*text, source);
  if (!root.ok()) return root.status();
  if (!root->IsMap()) return Status::InvalidArgument(source + ": not a kubeconfig (a mapping)");
  const std::string context_name =
      context_flag.empty() ? Scalar(*root, "current-context") : context_flag;
  if (context_name.empty()) {
    return Status::InvalidArgument(source + ": no current-context; pass --context");
  }
  Result<YAML::Node> context = Named(*root, "contexts", "context", context_name, source);
  if (!context.ok()) return context.status();
  const std::string cluster_name = Scalar(*context, "cluster");
  const std::string user_name = Scalar(*context, "user");
  Result<YAML::Node> cluster = Named(*root, "clusters", "cluster", cluster_name, source);
  if (!cluster.ok()) return cluster.status();
  std::string dir = std::filesystem::path(source).parent_path().string();
  if (dir.empty()) dir = ".";
  const std::string where = source + ": cluster \"" + cluster_name + "\"";

  config.server = Scalar(*cluster, "server");
  while (!config.server.empty() && config.server.back() == '/') config.server.pop_back();
  if (config.server.rfind("https://", 0) != 0 && config.server.rfind("http://", 0) != 0) {
    return Status::InvalidArgument(where + ": server \"" + config.server +
                                   "\" is not an http(s) URL");
  }
  Result<std::string> ca = Material(*cluster, "certificate-authority", dir, where);
  if (!ca.ok()) return ca.status();
  config.ca_pem = *std::move(ca);
  config.insecure_skip_tls_verify = Scalar(*cluster, "insecure-skip-tls-verify") == "true";
  if (!Scalar(*cluster, "tls-server-name").empty()) {
    return Status::InvalidArgument(where + ": tls-server-name is not supported by gpuslice top");
  }

  if (user_name.empty()) return config;
  Result<YAML::Node> user = Named(*root, "users", "user", user_name, source);
  if (!user.ok()) return user.status();
  const std::string user_where = source + ": user \"" + user_name + "\"";
  for (const char* unsupported : {"exec", "auth-provider"}) {
    if ((*user)[unsupported]) {
      return Status::InvalidArgument(
          user_where + " authenticates through " + unsupported +
          ", which gpuslice top does not run; use a context whose user has a token or a client "
          "certificate (e.g. a ServiceAccount token)");
    }
  }
  config.token = Scalar(*user, "token");
  if (config.token.empty() && !Scalar(*user, "tokenFile").empty()) {
    std::string token_path = Scalar(*user, "tokenFile");
    if (std::filesystem::path(token_path).is_relative()) token_path = dir + "/" + token_path;
    Result<std::string> token = io::ReadFile(token_path, 1u << 20);
    if (!token.ok()) return token.status().WithContext(user_where + ": tokenFile");
    config.token = *std::move(token);
    while (!config.token.empty() && std::isspace(static_cast<unsigned char>(config.token.back()))) {
      config.token.pop_back();
    }
  }
  Result<std::string> cert = Material(*user, "client-certificate", dir, user_where);
  if (!cert.ok()) return cert.status();
  Result<std::string> key = Material(*user, "client-key", dir, user_where);
  if (!key.ok()) return key.status();
  if (cert->empty() != key->empty()) {
    return Status::InvalidArgument(user_where + ": client-certificate and client-key go together");
  }
  config.client_cert_pem = *std::move(cert);
  config.client_key_pem = *std::move(key);
  config.username = Scalar(*user, "username");
  config.password = Scalar(*user, "password");
  return config;
}

Result<std::vector<AgentPod>> ParseAgentPods(const std::string& json, const std::string& source) {
  std::vector<AgentPod> pods;
  try {
    const nlohmann::json list = nlohmann::json::parse(json);
    if (!list.is_object() || !list.contains("items") || !list["items"].is_array()) {
      return Status::InvalidArgument(source + ": not a PodList (no items)");
    }
    for (const nlohmann::json& pod : list["items"]) {
      if (pod.value("/status/phase"_json_pointer, std::string()) != "Running") continue;
      AgentPod agent;
      agent.namespace_name = pod.value("/metadata/namespace"_json_pointer, std::string());
      agent.name = pod.value("/metadata/name"_json_pointer, std::string());
      agent.node = pod.value("/spec/nodeName"_json_pointer, std::string());
      const nlohmann::json containers =
          pod.value("/spec/containers"_json_pointer, nlohmann::json());
      if (!containers.is_array()) continue;
      for (const nlohmann::json& container : containers) {
        if (!container.is_object() || !container.contains("ports") ||
            !container["ports"].is_array()) {
          continue;
        }
        for (const nlohmann::json& port : container["ports"]) {
          if (port.is_object() && port.value("name", std::string()) == "metrics" &&
              port.contains("containerPort") && port["containerPort"].is_number_integer()) {
            agent.port = port["containerPort"].get<int>();
          }
        }
      }
      if (agent.port > 0 && agent.port <= 65535 && !agent.name.empty() &&
          !agent.namespace_name.empty()) {
        pods.push_back(std::move(agent));
      }
    }
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidArgument(source + ": not a PodList: " + e.what());
  }
  std::sort(pods.begin(), pods.end(), [](const AgentPod& a, const AgentPod& b) {
    return std::tie(a.namespace_name, a.name) < std::tie(b.namespace_name, b.name);
  });
  return pods;
}

Result<std::unique_ptr<KubeApiClient>> KubeApiClient::Create(KubeConfig config) {
  static const CURLcode global = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (global != CURLE_OK) {
    return Status::Unavailable(std::string("libcurl: ") + curl_easy_strerror(global));
  }
  std::unique_ptr<KubeApiClient> client(new KubeApiClient(std::move(config)));
  client->curl_ = curl_easy_init();
  if (client->curl_ == nullptr) return Status::Unavailable("libcurl: cannot make a handle");
  return client;
}

KubeApiClient::~KubeApiClient() {
  if (curl_ != nullptr) curl_easy_cleanup(static_cast<CURL*>(curl_));
}

Result<std::string> KubeApiClient::Get(const std::string& path, double timeout_seconds,
                                       size_t max_bytes) {
  CURL* curl = static_cast<CURL*>(curl_);
  curl_easy_reset(curl);
  const std::string url = config_.server + path;
  Sink sink;
  sink.max_bytes = max_bytes;
  const std::string& body = sink.body;
  char error[CURL_ERROR_SIZE] = {};
  curl_slist* headers = curl_slist_append(nullptr, "Accept: application/json, */*");
  const std::string bearer = "Authorization: Bearer " + config_.token;
  if (!config_.token.empty()) headers = curl_slist_append(headers, bearer.c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Append);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_seconds * 1000));
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_blob ca{const_cast<char*>(config_.ca_pem.data()), config_.ca_pem.size(), CURL_BLOB_COPY};
  if (!config_.ca_pem.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO_BLOB, &ca);
  if (config_.insecure_skip_tls_verify) {
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  curl_blob cert{const_cast<char*>(config_.client_cert_pem.data()), config_.client_cert_pem.size(),
                 CURL_BLOB_COPY};
  curl_blob key{const_cast<char*>(config_.client_key_pem.data()), config_.client_key_pem.size(),
                CURL_BLOB_COPY};
  if (!config_.client_cert_pem.empty()) {
    curl_easy_setopt(curl, CURLOPT_SSLCERT_BLOB, &cert);
    curl_easy_setopt(curl, CURLOPT_SSLCERTTYPE, "PEM");
    curl_easy_setopt(curl, CURLOPT_SSLKEY_BLOB, &key);
    curl_easy_setopt(curl, CURLOPT_SSLKEYTYPE, "PEM");
  }
  if (!config_.username.empty()) {
    curl_easy_setopt(curl, CURLOPT_USERNAME, config_.username.c_str());
    curl_easy_setopt(curl, CURLOPT_PASSWORD, config_.password.c_str());
  }
  const CURLcode code = curl_easy_perform(curl);
  curl_slist_free_all(headers);
  if (sink.too_big) {
    return Status::Unavailable(url + ": more than " + std::to_string(max_bytes) + " bytes");
  }
  if (code != CURLE_OK) {
    return Status::Unavailable(url + ": " + (error[0] != '\0' ? error : curl_easy_strerror(code)));
  }
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  if (status != 200) {
    // The API server explains a refusal in a Status object's message.
    std::string message = body.substr(0, 300);
    try {
      const nlohmann::json reply = nlohmann::json::parse(body);
      if (reply.is_object() && reply.contains("message") && reply["message"].is_string()) {
        message = reply["message"].get<std::string>();
      }
    } catch (const nlohmann::json::exception&) {
    }
    return Status::Unavailable(url + ": HTTP " + std::to_string(status) +
                               (message.empty() ? "" : ": " + message));
  }
  return std::move(sink.body);
}

std::string AgentPodsPath(const std::string& selector) {
  std::string encoded;
  for (const unsigned char c : selector) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      encoded += static_cast<char>(c);
    } else {
      static const char* kHex = "0123456789ABCDEF";
      encoded += '%';
      encoded += kHex[c >> 4];
      encoded += kHex[c & 15];
    }
  }
  return "/api/v1/pods?labelSelector=" + encoded;
}

std::string AgentMetricsPath(const AgentPod& pod) {
  return "/api/v1/namespaces/" + pod.namespace_name + "/pods/" + pod.name + ":" +
         std::to_string(pod.port) + "/proxy/metrics";
}

}  // namespace gpuslice::cli
