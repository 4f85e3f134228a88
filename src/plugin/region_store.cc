#include "plugin/region_store.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "core/contract.h"
#include "io/file.h"

namespace gpuslice::plugin {
namespace {

namespace fs = std::filesystem;
constexpr const char* kRecordName = "allocation.json";
constexpr const char* kDirectoryPrefix = "alloc-";

std::string Key(const std::string& resource, std::vector<std::string> ids) {
  std::sort(ids.begin(), ids.end());
  std::string key = resource;
  for (const std::string& id : ids) key += "\n" + id;
  return key;
}

Status IoError(const std::string& what, const std::string& path, int error) {
  return Status::Internal(what + " " + path + ": " + std::strerror(error));
}

// Reads one directory's record; nullopt for anything not written by Create (left alone).
std::optional<AllocationRecord> ReadRecord(const fs::path& directory) {
  Result<std::string> text = io::ReadFile((directory / kRecordName).string(), 1 << 20);
  if (!text.ok()) return std::nullopt;
  const nlohmann::json json = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return std::nullopt;
  try {
    AllocationRecord record;
    record.directory = directory.string();
    record.resource = json.at("resource").get<std::string>();
    record.device_ids = json.at("deviceIDs").get<std::vector<std::string>>();
    record.created_unix_millis = json.at("createdUnixMillis").get<int64_t>();
    for (const auto& gpu : json.value("gpus", nlohmann::json::array())) {
      record.gpus.push_back({gpu.at("uuid").get<std::string>(), gpu.at("slices").get<int>(),
                             gpu.at("reservedMemoryBytes").get<uint64_t>()});
    }
    return record;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

}  // namespace

RegionStore::RegionStore(RegionStoreOptions options, const core::Clock& clock)
    : options_(std::move(options)), clock_(clock) {}

Result<std::string> RegionStore::Create(const std::string& resource,
                                        const std::vector<std::string>& ids,
                                        const std::vector<RecordedSlicing>& gpus,
                                        const std::string& limits_file) {
  std::error_code error;
  fs::create_directories(options_.root, error);
  if (error) return IoError("cannot create", options_.root, error.value());
  const int64_t millis = std::chrono::duration_cast<std::chrono::milliseconds>(
                             clock_.WallNow().time_since_epoch())
                             .count();
  std::string pattern =
      options_.root + "/" + kDirectoryPrefix + std::to_string(millis) + "-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) return IoError("cannot create", pattern, errno);
  const std::string directory = pattern;
  // Only the region file is mounted into the container, and containers may run as any user:
  // they must be able to open it read-write, and to reach it.
  if (chmod(directory.c_str(), 0755) != 0) {
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
  const std::string limits_dir = directory + "/" + std::string(kLimitsDirName);
  const std::string limits = limits_dir + "/" + std::string(core::contract::kLimitsFileName);
  if (mkdir(limits_dir.c_str(), 0755) != 0 || chmod(limits_dir.c_str(), 0755) != 0) {
    const int saved = errno;
    Remove(directory);
    return IoError("cannot create", limits_dir, saved);
  }
  {
    std::ofstream file(limits);
    file << limits_file;
    if (!file.flush()) {
      Remove(directory);
      return IoError("cannot write", limits, errno);
    }
  }
  chmod(limits.c_str(), 0644);
  nlohmann::json slicing = nlohmann::json::array();
  for (const RecordedSlicing& gpu : gpus) {
    slicing.push_back({{"uuid", gpu.gpu_uuid},
                       {"slices", gpu.slices},
                       {"reservedMemoryBytes", gpu.reserved_memory_bytes}});
  }
  const nlohmann::json record = {{"resource", resource},
                                 {"deviceIDs", ids},
                                 {"gpus", slicing},
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

std::vector<AllocationRecord> RegionStore::Records() const {
  std::vector<AllocationRecord> records;
  std::error_code error;
  for (const fs::directory_entry& entry : fs::directory_iterator(options_.root, error)) {
    if (!entry.is_directory(error) ||
        entry.path().filename().string().rfind(kDirectoryPrefix, 0) != 0) {
      continue;
    }
    if (std::optional<AllocationRecord> record = ReadRecord(entry.path())) {
      records.push_back(std::move(*record));
    }
  }
  std::sort(records.begin(), records.end(), [](const auto& a, const auto& b) {
    return a.created_unix_millis < b.created_unix_millis;
  });
  return records;
}

Result<int> RegionStore::CollectGarbage(const std::vector<LiveAllocation>& live) {
  std::error_code error;
  if (!fs::exists(options_.root, error)) return 0;
  std::set<std::string> live_keys;
  for (const LiveAllocation& allocation : live) {
    live_keys.insert(Key(allocation.resource, allocation.device_ids));
  }
  const std::vector<AllocationRecord> records = Records();
  // The newest directory of each live allocation is its container's; older ones with the
  // same devices belonged to containers that are gone.
  std::map<std::string, const AllocationRecord*> newest;
  for (const AllocationRecord& record : records) {
    const std::string key = Key(record.resource, record.device_ids);
    if (live_keys.count(key) > 0) newest[key] = &record;  // records are oldest first
  }
  const auto now = clock_.Now();
  const int64_t now_millis = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 clock_.WallNow().time_since_epoch())
                                 .count();
  const int64_t grace_millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(options_.grace).count();
  std::lock_guard<std::mutex> lock(mutex_);
  std::map<std::string, core::Clock::TimePoint> still_missing;
  int removed = 0;
  for (const AllocationRecord& record : records) {
    const auto kept = newest.find(Key(record.resource, record.device_ids));
    if (kept != newest.end() && kept->second == &record) continue;
    if (now_millis - record.created_unix_millis < grace_millis) continue;
    const auto first_missed = missing_since_.find(record.directory);
    if (first_missed == missing_since_.end() || now - first_missed->second < options_.confirmation) {
      still_missing[record.directory] =
          first_missed == missing_since_.end() ? now : first_missed->second;
      continue;
    }
    Remove(record.directory);
    ++removed;
  }
  missing_since_ = std::move(still_missing);
  return removed;
}

}  // namespace gpuslice::plugin
