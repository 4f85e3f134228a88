// The real kube-apiserver that tests/kubeapi/apiserver.sh starts for a ctest run (fixture
// kube_apiserver): where it is, an admin client for it, and why it is not there when it is not.
// Test binaries that use it are built with GPUSLICE_APISERVER_STATE_DIR naming the fixture's
// state directory.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "kubeapi/client.h"

namespace gpuslice::testing {

class ApiServerFixture {
 public:
  static std::string StatePath(const std::string& name) {
    return std::string(GPUSLICE_APISERVER_STATE_DIR) + "/" + name;
  }

  // Empty when the API server is up; otherwise why the tests skip.
  static std::string SkipReason() {
    const std::string skip = Read(StatePath("skip"));
    if (!skip.empty()) return skip;
    if (Server().empty()) {
      return "the kube-apiserver fixture has not run: run the tests through ctest, which starts "
             "it first (tests/kubeapi/apiserver.sh)";
    }
    return "";
  }

  static std::string Server() {
    std::string server = Read(StatePath("server"));
    while (!server.empty() && std::isspace(static_cast<unsigned char>(server.back()))) {
      server.pop_back();
    }
    return server;
  }

  // A client with the admin's client certificate (system:masters), or null after a test
  // failure saying why.
  static std::unique_ptr<kubeapi::Client> AdminClient() {
    Result<kubeapi::ClusterConfig> config =
        kubeapi::LoadKubeconfig(StatePath("admin.kubeconfig"));
    if (!config.ok()) {
      ADD_FAILURE() << config.status().ToString();
      return nullptr;
    }
    Result<std::unique_ptr<kubeapi::Client>> client = kubeapi::Client::Create(*config);
    if (!client.ok()) {
      ADD_FAILURE() << client.status().ToString();
      return nullptr;
    }
    return std::move(*client);
  }

  // A DNS label unique to this test process: "<prefix>-<pid>", lower case, at most 50 chars.
  static std::string UniqueName(const std::string& prefix) {
    std::string name;
    for (char c : prefix) {
      if (std::isalnum(static_cast<unsigned char>(c))) {
        name += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      }
    }
    name = name.substr(0, 40) + "-" + std::to_string(getpid());
    return name;
  }

 private:
  static std::string Read(const std::string& path) {
    std::ifstream file(path);
    std::stringstream text;
    text << file.rdbuf();
    return text.str();
  }
};

}  // namespace gpuslice::testing
