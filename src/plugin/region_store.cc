#include "plugin/region_store.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "core/contract.h"

namespace gpuslice::plugin {
namespace {

namespace fs = std::filesystem;
constexpr const char* kRecordName = "allocation.json";

std::string Key(const std::string& resource, std::vector<std::string> ids) {
  std::sort(ids.begin(), ids.end());
  std::string key = resource;
  for (const std::string& id : ids) key += "\n" + id;
  return key;
}

Status IoError(const std::string& what, const std::string& path, int error) {
  return Status::Internal(what + " " + path + ": " + std::strerror(error));
}

}  // namespace

RegionStore::RegionStore(RegionStoreOptions options, const core::Clock& clock)
    : options_(std::move(options)), clock_(clock) {}

Result<std::string> RegionStore::Create(const std::string& resource,
                                        const std::vector<std::string>& ids) {
  std::error_code error;
  fs::create_directories(options_.root, error);
  if (error) return IoError("cannot create", options_.root, error.value());
  const auto now = clock_.WallNow();
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::string pattern = options_.root + "/alloc-" + std::to_string(millis) + "-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) return IoError("cannot create", pattern, errno);
  const std::string directory = pattern;
  // Containers may run as any user: they must be able to open the region read-write.
  if (chmod(directory.c_str(), 0777) != 0) {
    const int saved = errno;
    Remove(directory);
    return IoError("cannot chmod", directory, saved);
  }
  const std::string region = directory + "/" + std::string(core::contract::kRegionFileName);
  {
    std::ofstream file(region);
    if (!file) {
      Remove(directory);
      return IoError("cannot create", region, errno);
    }
  }
  chmod(region.c_str(), 0666);
  nlohmann::json record = {{"resource", resource},
                           {"deviceIDs", ids},
                           {"createdUnixMillis", millis}};
  const std::string record_path = directory + "/" + kRecordName;
  std::ofstream file(record_path);
  file << record.dump() << '\n';
  if (!file.flush()) {
    Remove(directory);
    return IoError("cannot write", record_path, errno);
  }
  return directory;
}

void RegionStore::Remove(const std::string& directory) {
  std::error_code ignored;
  fs::remove_all(directory, ignored);
}

Result<int> RegionStore::CollectGarbage(const std::vector<LiveAllocation>& live) {
  std::error_code error;
  if (!fs::exists(options_.root, error)) return 0;
  fs::directory_iterator entries(options_.root, error);
  if (error) return IoError("cannot list", options_.root, error.value());

  std::map<std::string, int> live_keys;
  for (const LiveAllocation& allocation : live) {
    live_keys[Key(allocation.resource, allocation.device_ids)] = 0;
  }
  struct Found {
    std::string directory;
    int64_t created_millis;
  };
  std::map<std::string, std::vector<Found>> by_key;
  const int64_t now_millis = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 clock_.WallNow().time_since_epoch())
                                 .count();
  const int64_t grace_millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(options_.grace).count();
  for (const fs::directory_entry& entry : entries) {
    if (!entry.is_directory(error) || entry.path().filename().string().rfind("alloc-", 0) != 0) {
      continue;
    }
    std::ifstream file(entry.path() / kRecordName);
    nlohmann::json record = nlohmann::json::parse(file, nullptr, /*allow_exceptions=*/false);
    if (record.is_discarded() || !record.contains("resource") || !record.contains("deviceIDs") ||
        !record.contains("createdUnixMillis")) {
      continue;  // not ours to judge; an operator can inspect it
    }
    try {
      Found found{entry.path().string(), record["createdUnixMillis"].get<int64_t>()};
      by_key[Key(record["resource"].get<std::string>(),
                 record["deviceIDs"].get<std::vector<std::string>>())]
          .push_back(found);
    } catch (const nlohmann::json::exception&) {
      continue;
    }
  }
  int removed = 0;
  for (auto& [key, found] : by_key) {
    std::sort(found.begin(), found.end(), [](const Found& a, const Found& b) {
      return a.created_millis > b.created_millis;
    });
    const bool is_live = live_keys.count(key) > 0;
    for (size_t i = is_live ? 1 : 0; i < found.size(); ++i) {
      if (now_millis - found[i].created_millis < grace_millis) continue;
      Remove(found[i].directory);
      ++removed;
    }
  }
  return removed;
}

}  // namespace gpuslice::plugin
