#include "plugin/cdi.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "core/contract.h"
#include "io/file.h"
#include "plugin/allocator.h"

namespace gpuslice::plugin {
namespace {

// CDI's own limit on the name part of an annotation key (a Kubernetes qualified name).
constexpr size_t kMaxAnnotationName = 63;
constexpr std::string_view kAnnotationPrefix = "cdi.k8s.io/";
constexpr std::string_view kAnnotationPlugin = "gpuslice_";
constexpr std::string_view kSpecFileName = "gpuslice-simulated-gpus.json";

std::string DirectoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

std::string BaseNameOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

nlohmann::json Mount(const std::string& host, const std::string& container, bool read_only) {
  return {{"hostPath", host},
          {"containerPath", container},
          {"type", "bind"},
          {"options", {read_only ? "ro" : "rw", "nosuid", "nodev", "bind"}}};
}

}  // namespace

std::string NvidiaCdiDevice(std::string_view gpu_uuid) {
  return std::string(kNvidiaCdiKind) + "=" + std::string(gpu_uuid);
}

Result<std::string> CdiAnnotationKey(std::string_view id) {
  const std::string name = std::string(kAnnotationPlugin) + std::string(id);
  const bool valid =
      !id.empty() && name.size() <= kMaxAnnotationName &&
      std::isalnum(static_cast<unsigned char>(name.back())) &&
      std::all_of(id.begin(), id.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
      });
  if (!valid) {
    return Status::InvalidArgument("\"" + std::string(id) +
                                   "\" cannot name a CDI annotation (letters, digits, '-', '_', "
                                   "'.', at most " +
                                   std::to_string(kMaxAnnotationName - kAnnotationPlugin.size()) +
                                   " characters)");
  }
  return std::string(kAnnotationPrefix) + name;
}

std::string SimulatedCdiSpecPath(std::string_view spec_dir) {
  return std::string(spec_dir) + "/" + std::string(kSpecFileName);
}

std::string FormatSimulatedCdiSpec(const SimulatedCdiSpec& spec) {
  namespace contract = core::contract;
  nlohmann::json devices = nlohmann::json::array();
  for (const std::string& uuid : spec.gpu_uuids) {
    std::string marker = std::string(contract::kSimCdiGpuEnvPrefix) + uuid;
    std::replace(marker.begin() + static_cast<std::ptrdiff_t>(contract::kSimCdiGpuEnvPrefix.size()),
                 marker.end(), '-', '_');
    devices.push_back({{"name", uuid}, {"containerEdits", {{"env", {marker + "=" + uuid}}}}});
  }
  const std::string sim_dir = spec.library_dir + "/" + std::string(kSimulatedDriverDirName);
  const std::string driver_dir(contract::kContainerDriverLibraryDir);
  nlohmann::json mounts = nlohmann::json::array();
  for (std::string_view library : {contract::kSimCudaLibraryName, contract::kSimNvmlLibraryName}) {
    mounts.push_back(Mount(sim_dir + "/" + std::string(library),
                           driver_dir + "/" + std::string(library), /*read_only=*/true));
  }
  // Read-write: every process of every container keeps its own accounting slot there. The
  // directory, not the file, so a state file replaced on the node is seen.
  mounts.push_back(Mount(DirectoryOf(spec.state_host_path),
                         std::string(contract::kContainerSimStateDir), /*read_only=*/false));
  const nlohmann::json document = {
      {"cdiVersion", "0.6.0"},
      {"kind", std::string(kNvidiaCdiKind)},
      {"devices", devices},
      {"containerEdits",
       {{"env",
         {std::string(contract::kSimStateEnv) + "=" + std::string(contract::kContainerSimStateDir) +
          "/" + BaseNameOf(spec.state_host_path)}},
        {"mounts", mounts}}},
  };
  return document.dump(2) + "\n";
}

Status WriteSimulatedCdiSpec(const SimulatedCdiSpec& spec) {
  const std::string path = SimulatedCdiSpecPath(spec.spec_dir);
  const std::string wanted = FormatSimulatedCdiSpec(spec);
  Result<std::string> existing = io::ReadFile(path, 1 << 20);
  if (existing.ok() && *existing == wanted) return Status::Ok();
  // The temporary file's name ends in neither .json nor .yaml, so the runtime never reads it.
  return io::WriteFile(path, wanted);
}

}  // namespace gpuslice::plugin
