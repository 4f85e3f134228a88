#include <string>

#include "check.h"
#include "kube/manifest.h"
#include "kube/writer.h"
#include "targets.h"

namespace gpuslice::fuzz {

int Manifest(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  kube::Manifests manifests;
  const Status status = kube::ParseManifests(text, "fuzz.yaml", &manifests);
  if (!status.ok()) {
    Expect(status.code() == StatusCode::kInvalidArgument, "manifest errors are InvalidArgument");
    Expect(status.message().rfind("fuzz.yaml", 0) == 0 ||
               status.message().find(" is defined twice: fuzz.yaml") != std::string::npos,
           "manifest errors name the file: " + status.message());
    return 0;
  }
  const kube::Taint taint{"nvidia.com/gpu", "true", kube::TaintEffect::kNoSchedule};
  for (const kube::NodePool& pool : manifests.node_pools) {
    // A pool read once can be written back and read again.
    Result<std::string> written = kube::NodePoolYamlWithTaint(pool, taint);
    Expect(written.ok(), "a NodePool read is written back: " + written.status().ToString());
    kube::Manifests again;
    const Status reread = kube::ParseManifests(*written, "written.yaml", &again);
    Expect(reread.ok(), "a NodePool written back reads again: " + reread.ToString());
  }
  return 0;
}

}  // namespace gpuslice::fuzz
