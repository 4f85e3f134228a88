#include "kubeapi/cluster_config.h"

#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>

#include "core/yaml_load.h"
#include "io/file.h"
#include "kubeapi/internal/base64.h"

namespace gpuslice::kubeapi {
namespace {

// Kubeconfig and service-account files are small; anything larger is not one.
constexpr uint64_t kMaxConfigBytes = 4 << 20;

std::string Trim(std::string text) {
  const size_t begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return "";
  const size_t end = text.find_last_not_of(" \t\r\n");
  return text.substr(begin, end - begin + 1);
}

bool FileExists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

// Reads kubeconfig fields with errors naming "<file>: <field path>: <problem>".
class KubeconfigReader {
 public:
  explicit KubeconfigReader(const std::string& path) : path_(path) {
    const size_t slash = path.rfind('/');
    dir_ = slash == std::string::npos ? "." : path.substr(0, slash == 0 ? 1 : slash);
  }

  Status Error(const std::string& field, const std::string& problem) const {
    return Status::InvalidArgument("kubeconfig " + path_ + ": " + field + ": " + problem);
  }

  // The `inner` map (e.g. "cluster") of the entry named `name` in the list `list`.
  Result<YAML::Node> Named(const YAML::Node& root, const std::string& list,
                           const std::string& inner, const std::string& name) const {
    const YAML::Node& entries = root[list];
    if (!entries || !entries.IsSequence()) return Error(list, "expected a list");
    for (size_t i = 0; i < entries.size(); ++i) {
      const YAML::Node& entry = entries[i];
      if (!entry.IsMap() || !entry["name"] || !entry["name"].IsScalar()) {
        return Error(list + "[" + std::to_string(i) + "]", "expected a mapping with a name");
      }
      if (entry["name"].Scalar() != name) continue;
      const YAML::Node& value = entry[inner];
      if (!value || !value.IsMap()) {
        return Error(list + "[" + std::to_string(i) + "]." + inner, "expected a mapping");
      }
      return value;
    }
    return Error(list, "no entry named \"" + name + "\"");
  }

  Result<std::string> String(const YAML::Node& map, const std::string& field,
                             const std::string& key) const {
    const YAML::Node& value = map[key];
    if (!value) return std::string();
    if (!value.IsScalar()) return Error(field + "." + key, "expected a string");
    return value.Scalar();
  }

  Result<std::string> Data(const YAML::Node& map, const std::string& field,
                           const std::string& key) const {
    Result<std::string> text = String(map, field, key);
    if (!text.ok() || text->empty()) return text;
    Result<std::string> decoded = internal::DecodeBase64(*text);
    if (!decoded.ok()) return Error(field + "." + key, decoded.status().message());
    return decoded;
  }

  // A file path as written, made absolute against the kubeconfig's directory.
  Result<std::string> FilePath(const YAML::Node& map, const std::string& field,
                               const std::string& key) const {
    Result<std::string> text = String(map, field, key);
    if (!text.ok() || text->empty() || text->front() == '/') return text;
    return dir_ + "/" + *text;
  }

 private:
  std::string path_;
  std::string dir_;
};

Result<ClusterConfig> ReadKubeconfig(const YAML::Node& root, const KubeconfigReader& reader,
                                     const std::string& path, const std::string& context_name) {
  if (!root.IsMap()) return reader.Error("(document)", "expected a mapping");
  std::string context = context_name;
  if (context.empty()) {
    Result<std::string> current = reader.String(root, "(document)", "current-context");
    if (!current.ok()) return current.status();
    if (current->empty()) {
      return reader.Error("current-context", "is not set; name a context");
    }
    context = *current;
  }
  Result<YAML::Node> context_map = reader.Named(root, "contexts", "context", context);
  if (!context_map.ok()) return context_map.status();
  const std::string context_field = "contexts[" + context + "].context";
  Result<std::string> cluster_name = reader.String(*context_map, context_field, "cluster");
  Result<std::string> user_name = reader.String(*context_map, context_field, "user");
  Result<std::string> namespace_name = reader.String(*context_map, context_field, "namespace");
  for (const Result<std::string>* field : {&cluster_name, &user_name, &namespace_name}) {
    if (!field->ok()) return field->status();
  }
  if (cluster_name->empty()) return reader.Error(context_field + ".cluster", "is required");

  ClusterConfig config;
  config.source = "kubeconfig " + path + " (context " + context + ")";
  if (!namespace_name->empty()) config.namespace_name = *namespace_name;

  Result<YAML::Node> cluster = reader.Named(root, "clusters", "cluster", *cluster_name);
  if (!cluster.ok()) return cluster.status();
  const std::string cluster_field = "clusters[" + *cluster_name + "].cluster";
  Result<std::string> server = reader.String(*cluster, cluster_field, "server");
  if (!server.ok()) return server.status();
  if (server->empty()) return reader.Error(cluster_field + ".server", "is required");
  if (server->rfind("https://", 0) != 0 && server->rfind("http://", 0) != 0) {
    return reader.Error(cluster_field + ".server",
                        "\"" + *server + "\" is not an http:// or https:// URL");
  }
  while (!server->empty() && server->back() == '/') server->pop_back();
  config.server = *server;
  Result<std::string> ca_data = reader.Data(*cluster, cluster_field, "certificate-authority-data");
  Result<std::string> ca_file = reader.FilePath(*cluster, cluster_field, "certificate-authority");
  if (!ca_data.ok()) return ca_data.status();
  if (!ca_file.ok()) return ca_file.status();
  config.ca_data = *ca_data;
  config.ca_file = *ca_file;
  if ((*cluster)["tls-server-name"]) {
    return reader.Error(cluster_field + ".tls-server-name",
                        "is not supported; name the server by the name its certificate holds");
  }
  if (const YAML::Node& insecure = (*cluster)["insecure-skip-tls-verify"]) {
    config.insecure_skip_tls_verify = insecure.IsScalar() && insecure.Scalar() == "true";
  }

  if (user_name->empty()) return config;
  Result<YAML::Node> user = reader.Named(root, "users", "user", *user_name);
  if (!user.ok()) return user.status();
  const std::string user_field = "users[" + *user_name + "].user";
  for (const char* plugin : {"exec", "auth-provider"}) {
    if ((*user)[plugin]) {
      return reader.Error(user_field + "." + plugin,
                          "credential plugins are not supported; use a token or a client "
                          "certificate (e.g. a service account's token)");
    }
  }
  struct Field {
    const char* key;
    bool is_data;
    std::string* out;
  };
  const Field fields[] = {
      {"client-certificate-data", true, &config.client_cert_data},
      {"client-key-data", true, &config.client_key_data},
      {"client-certificate", false, &config.client_cert_file},
      {"client-key", false, &config.client_key_file},
      {"token", false, &config.token},
      {"tokenFile", false, &config.token_file},
      {"username", false, &config.username},
      {"password", false, &config.password},
  };
  for (const Field& field : fields) {
    const std::string key = field.key;
    const bool is_file = key == "client-certificate" || key == "client-key" || key == "tokenFile";
    Result<std::string> value = field.is_data ? reader.Data(*user, user_field, key)
                                : is_file     ? reader.FilePath(*user, user_field, key)
                                              : reader.String(*user, user_field, key);
    if (!value.ok()) return value.status();
    *field.out = *value;
  }
  const bool has_cert = !config.client_cert_data.empty() || !config.client_cert_file.empty();
  const bool has_key = !config.client_key_data.empty() || !config.client_key_file.empty();
  if (has_cert != has_key) {
    return reader.Error(user_field, "a client certificate needs its key, and a key its certificate");
  }
  return config;
}

}  // namespace

Result<ClusterConfig> LoadInCluster(const InClusterOptions& options) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (host == nullptr || *host == '\0' || port == nullptr || *port == '\0') {
    return Status::FailedPrecondition(
        "not running in a Kubernetes pod: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT "
        "are not set (give --kubeconfig to run outside the cluster)");
  }
  ClusterConfig config;
  config.source = "in-cluster service account (" + options.service_account_dir + ")";
  const std::string host_text = host;
  // An IPv6 service address goes in brackets in a URL.
  config.server = "https://" +
                  (host_text.find(':') != std::string::npos ? "[" + host_text + "]" : host_text) +
                  ":" + port;
  config.token_file = options.service_account_dir + "/token";
  config.ca_file = options.service_account_dir + "/ca.crt";
  for (const std::string& file : {config.token_file, config.ca_file}) {
    if (!FileExists(file)) {
      return Status::NotFound(file + " does not exist: the pod has no service account token "
                                     "(automountServiceAccountToken: false?)");
    }
  }
  Result<std::string> ns =
      io::ReadFile(options.service_account_dir + "/namespace", kMaxConfigBytes);
  if (ns.ok() && !Trim(*ns).empty()) config.namespace_name = Trim(*ns);
  return config;
}

Result<ClusterConfig> ParseKubeconfig(const std::string& text, const std::string& path,
                                      const std::string& context_name) {
  KubeconfigReader reader(path);
  // Duplicate keys, alias bombs and oversized documents are refused here, as for every other
  // YAML file gpuslice reads.
  Result<YAML::Node> root = core::LoadYaml(text, path);
  if (!root.ok()) return root.status();
  try {
    return ReadKubeconfig(*root, reader, path, context_name);
  } catch (const YAML::Exception& e) {
    return reader.Error("(document)", "not valid YAML: " + e.msg + " at line " +
                                          std::to_string(e.mark.line + 1));
  }
}

Result<ClusterConfig> LoadKubeconfig(const std::string& path, const std::string& context_name) {
  Result<std::string> text = io::ReadFile(path, kMaxConfigBytes);
  if (!text.ok()) return text.status();
  return ParseKubeconfig(*text, path, context_name);
}

Result<ClusterConfig> LoadDefault(const std::string& kubeconfig, const std::string& context) {
  if (!kubeconfig.empty()) return LoadKubeconfig(kubeconfig, context);
  std::string not_in_cluster = "a context is named";
  if (context.empty()) {
    Result<ClusterConfig> in_cluster = LoadInCluster();
    if (in_cluster.ok() || in_cluster.status().code() != StatusCode::kFailedPrecondition) {
      return in_cluster;
    }
    not_in_cluster = in_cluster.status().message();
  }
  if (const char* env = std::getenv("KUBECONFIG"); env != nullptr && *env != '\0') {
    std::string first = env;
    first = first.substr(0, first.find(':'));
    return LoadKubeconfig(first, context);
  }
  const char* home = std::getenv("HOME");
  const std::string home_config = std::string(home != nullptr ? home : "") + "/.kube/config";
  if (home != nullptr && FileExists(home_config)) return LoadKubeconfig(home_config, context);
  return Status::FailedPrecondition(not_in_cluster + "; and there is no " + home_config);
}

}  // namespace gpuslice::kubeapi
