#include "dra/checkpoint.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "io/file.h"

namespace gpuslice::dra {
namespace {

using nlohmann::json;

constexpr std::string_view kVersion = "gpuslice.dra/v1";
constexpr uint64_t kMaxCheckpointBytes = 64 << 20;

}  // namespace

Status Checkpoint::Load() {
  claims_.clear();
  if (access(path_.c_str(), F_OK) != 0) return Status::Ok();
  Result<std::string> text = io::ReadFile(path_, kMaxCheckpointBytes);
  if (!text.ok()) return text.status();
  try {
    const json document = json::parse(*text);
    if (document.value("version", "") != kVersion) {
      return Status::InvalidArgument(path_ + ": not a gpuslice DRA checkpoint (version \"" +
                                     document.value("version", "") + "\")");
    }
    std::map<std::string, PreparedClaim> claims;
    for (const auto& [uid, entry] : document.at("claims").items()) {
      PreparedClaim claim;
      claim.uid = uid;
      claim.namespace_name = entry.at("namespace").get<std::string>();
      claim.name = entry.at("name").get<std::string>();
      claim.region_dir = entry.at("regionDir").get<std::string>();
      claim.cdi_spec_path = entry.at("cdiSpec").get<std::string>();
      for (const json& device : entry.at("devices")) {
        claim.devices.push_back({device.at("requests").get<std::vector<std::string>>(),
                                 device.at("pool").get<std::string>(),
                                 device.at("device").get<std::string>(),
                                 device.value("shareID", ""),
                                 device.at("cdiDeviceIDs").get<std::vector<std::string>>()});
      }
      claims.emplace(uid, std::move(claim));
    }
    claims_ = std::move(claims);
  } catch (const json::exception& e) {
    return Status::InvalidArgument(path_ + ": not a valid checkpoint: " + e.what());
  }
  return Status::Ok();
}

Status Checkpoint::Save() const {
  json claims = json::object();
  for (const auto& [uid, claim] : claims_) {
    json devices = json::array();
    for (const PreparedDevice& device : claim.devices) {
      json entry = {{"requests", device.request_names},
                    {"pool", device.pool},
                    {"device", device.device},
                    {"cdiDeviceIDs", device.cdi_device_ids}};
      if (!device.share_id.empty()) entry["shareID"] = device.share_id;
      devices.push_back(std::move(entry));
    }
    claims[uid] = {{"namespace", claim.namespace_name},
                   {"name", claim.name},
                   {"regionDir", claim.region_dir},
                   {"cdiSpec", claim.cdi_spec_path},
                   {"devices", std::move(devices)}};
  }
  const json document = {{"version", kVersion}, {"claims", std::move(claims)}};
  std::error_code error;
  std::filesystem::create_directories(std::filesystem::path(path_).parent_path(), error);
  const std::string temporary = path_ + ".tmp";
  {
    std::ofstream file(temporary, std::ios::trunc);
    file << document.dump(1) << "\n";
    if (!file.flush()) {
      return Status::Internal("cannot write " + temporary + ": " + std::strerror(errno));
    }
  }
  if (std::rename(temporary.c_str(), path_.c_str()) != 0) {
    return Status::Internal("cannot replace " + path_ + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

const PreparedClaim* Checkpoint::Find(const std::string& uid) const {
  const auto it = claims_.find(uid);
  return it == claims_.end() ? nullptr : &it->second;
}

void Checkpoint::Put(PreparedClaim claim) {
  const std::string uid = claim.uid;
  claims_[uid] = std::move(claim);
}

void Checkpoint::Erase(const std::string& uid) { claims_.erase(uid); }

}  // namespace gpuslice::dra
