#include "check.h"
#include "replay/trace.h"
#include "targets.h"

namespace gpuslice::fuzz {

// The first byte picks the list: even a node list, odd a pod list.
int Trace(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 0) {
    Result<std::vector<replay::NodeSpec>> nodes = replay::ParseNodeList(text, "nodes.csv");
    if (!nodes.ok()) {
      Expect(nodes.status().message().rfind("nodes.csv", 0) == 0,
             "node list errors name the file: " + nodes.status().message());
      return 0;
    }
    Expect(!nodes->empty(), "a node list read holds nodes");
  } else {
    Result<std::vector<replay::TracePod>> pods = replay::ParsePodList(text, "pods.csv");
    if (!pods.ok()) {
      Expect(pods.status().message().rfind("pods.csv", 0) == 0,
             "pod list errors name the file: " + pods.status().message());
      return 0;
    }
    Expect(!pods->empty(), "a pod list read holds pods");
  }
  return 0;
}

}  // namespace gpuslice::fuzz
