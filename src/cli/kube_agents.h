// Finding every node's agent through the Kubernetes API server, for `gpuslice top
// --kubeconfig`: the kubeconfig (the context's cluster, CA and credentials), an HTTPS client
// for the API server (libcurl), the agent pods (the chart's DaemonSet, by label) and their
// /metrics through the API server's pod proxy.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace gpuslice::cli {

// What one context of a kubeconfig says about reaching its API server.
struct KubeConfig {
  std::string source;  // the kubeconfig's path, for messages
  std::string server;  // "https://host:port", without a trailing slash
  std::string ca_pem;  // empty: the system's CAs
  bool insecure_skip_tls_verify = false;
  std::string token;            // a bearer token (token or tokenFile)
  std::string client_cert_pem;  // client certificate and key (both or neither)
  std::string client_key_pem;
  std::string username;  // basic authentication (both or neither)
  std::string password;
};

// The kubeconfig at `path`, or where kubectl looks when `path` is empty: the first file of
// $KUBECONFIG, else ~/.kube/config. `context` empty: its current-context. Reads the cluster's
// server, certificate-authority(-data) and insecure-skip-tls-verify, and the user's token,
// tokenFile, client-certificate(-data), client-key(-data) or username/password; paths are
// relative to the kubeconfig's directory. Returns NotFound for a missing file and
// InvalidArgument naming the file and field for anything else wrong, including what this
// client does not do: a user that authenticates through an exec plugin or auth-provider, and
// a cluster's tls-server-name.
Result<KubeConfig> ReadKubeConfig(const std::string& path, const std::string& context);

// A node agent pod: where it runs and the port of its container port named "metrics".
struct AgentPod {
  std::string namespace_name;
  std::string name;
  std::string node;
  int port = 0;
};

// The running pods of a PodList (JSON, as GET /api/v1/pods returns it) that have a container
// port named "metrics", in namespace and name order. Pods not Running or without the port are
// left out. InvalidArgument naming `source` when the text is not a PodList.
Result<std::vector<AgentPod>> ParseAgentPods(const std::string& json, const std::string& source);

// GETs from one API server, or (with a KubeConfig holding only a plain http:// server) from
// one node agent. Not thread-safe.
class KubeApiClient {
 public:
  static Result<std::unique_ptr<KubeApiClient>> Create(KubeConfig config);
  ~KubeApiClient();

  // The body of GET server + `path` when the answer is 200, at most `max_bytes` of it;
  // Unavailable naming the URL with the transport error, the HTTP status and the start of the
  // API server's message otherwise.
  Result<std::string> Get(const std::string& path, double timeout_seconds, size_t max_bytes);

  const KubeConfig& config() const { return config_; }

 private:
  explicit KubeApiClient(KubeConfig config) : config_(std::move(config)) {}
  KubeConfig config_;
  void* curl_ = nullptr;  // CURL*, reused between requests for its connection
};

// "/api/v1/pods?labelSelector=<selector, URL-encoded>".
std::string AgentPodsPath(const std::string& selector);

// "/api/v1/namespaces/<ns>/pods/<name>:<port>/proxy/metrics".
std::string AgentMetricsPath(const AgentPod& pod);

}  // namespace gpuslice::cli
