// Where the Kubernetes API server is and how to prove who we are to it: in-cluster (the pod's
// service account) or from a kubeconfig file (out-of-cluster runs), the two ways client-go
// finds it. Credentials stay as given (file paths or inline PEM data); the client reads files
// when it connects, so a rotated service-account token is picked up.
#pragma once

#include <string>

#include "core/status.h"

namespace gpuslice::kubeapi {

struct ClusterConfig {
  std::string server;  // "https://10.96.0.1:443"; http:// only for test servers

  // Trust for the server's certificate: PEM data, a file, or neither (the system's CAs).
  std::string ca_data;
  std::string ca_file;
  bool insecure_skip_tls_verify = false;

  // Client certificate authentication: PEM data or files (the kubeconfig allows either).
  std::string client_cert_data;
  std::string client_cert_file;
  std::string client_key_data;
  std::string client_key_file;

  // Bearer token authentication: a fixed token, or a file re-read whenever it changes (the
  // kubelet rotates projected service-account tokens in place).
  std::string token;
  std::string token_file;

  // Basic authentication, for API servers fronted by a proxy that asks for it.
  std::string username;
  std::string password;

  // The namespace the config names (the pod's, or the context's); "default" when none.
  std::string namespace_name = "default";

  // Where the config came from, for error messages ("in-cluster", "kubeconfig ~/.kube/config").
  std::string source;
};

struct InClusterOptions {
  // The service-account directory the kubelet mounts in every pod.
  std::string service_account_dir = "/var/run/secrets/kubernetes.io/serviceaccount";
};

// Reads KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT and the service-account token, CA
// and namespace files. Returns FailedPrecondition when not running in a pod (the variables are
// unset) and NotFound naming the file when the token or CA is missing.
Result<ClusterConfig> LoadInCluster(const InClusterOptions& options = {});

// Reads a kubeconfig file: the context named `context_name`, or the file's current-context
// when empty. Relative certificate, key and token file paths are taken relative to the file's
// directory, as kubectl does. Returns InvalidArgument naming the file and the field for
// anything malformed or missing, for users that need an exec or auth-provider plugin
// (gpuslice runs none), and for a cluster's tls-server-name (libcurl cannot verify the server
// against a name other than the one it connects to).
Result<ClusterConfig> LoadKubeconfig(const std::string& path, const std::string& context_name = "");

// Parses kubeconfig text; `path` names it in errors and anchors relative paths.
Result<ClusterConfig> ParseKubeconfig(const std::string& text, const std::string& path,
                                      const std::string& context_name = "");

// The usual order: `kubeconfig` when given, else in-cluster when in a pod and no context is
// named, else the first file of $KUBECONFIG, else ~/.kube/config. `context` empty: the
// kubeconfig's current-context. Returns the error of the last place tried.
Result<ClusterConfig> LoadDefault(const std::string& kubeconfig, const std::string& context = "");

}  // namespace gpuslice::kubeapi
