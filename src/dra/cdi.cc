#include "dra/cdi.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "dra/device_model.h"

namespace gpuslice::dra {

std::string CdiDeviceId(const std::string& device_name) {
  return std::string(kCdiKind) + "=" + device_name;
}

std::string CdiSpecStem(const std::string& claim_uid) {
  return std::string(kDriverName) + "-" + claim_uid;
}

std::string FormatCdiSpec(const CdiSpec& spec) {
  using nlohmann::json;
  json mounts = json::array();
  for (const plugin::MountSpec& mount : spec.mounts) {
    mounts.push_back({{"hostPath", mount.host_path},
                      {"containerPath", mount.container_path},
                      {"options", json::array({mount.read_only ? "ro" : "rw", "nosuid", "nodev",
                                               "bind"})}});
  }
  json devices = json::array();
  for (const CdiDevice& device : spec.devices) {
    devices.push_back({{"name", device.name}, {"containerEdits", {{"env", device.env}}}});
  }
  json edits = json::object();
  if (!spec.env.empty()) edits["env"] = spec.env;
  if (!mounts.empty()) edits["mounts"] = std::move(mounts);
  json document = {{"cdiVersion", kCdiVersion}, {"kind", kCdiKind}, {"devices", std::move(devices)}};
  if (!edits.empty()) document["containerEdits"] = std::move(edits);
  return document.dump(2) + "\n";
}

Result<std::string> WriteCdiSpec(const std::string& dir, const std::string& stem,
                                 const CdiSpec& spec) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) return Status::Internal("cannot create " + dir + ": " + error.message());
  const std::string path = dir + "/" + stem + ".json";
  // The runtime reads every *.json in the directory: the temporary name must not end so.
  const std::string temporary = dir + "/." + stem + ".tmp";
  {
    std::ofstream file(temporary, std::ios::trunc);
    file << FormatCdiSpec(spec);
    if (!file.flush()) {
      const int saved = errno;
      std::remove(temporary.c_str());
      return Status::Internal("cannot write " + temporary + ": " + std::strerror(saved));
    }
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    const int saved = errno;
    std::remove(temporary.c_str());
    return Status::Internal("cannot replace " + path + ": " + std::strerror(saved));
  }
  return path;
}

}  // namespace gpuslice::dra
