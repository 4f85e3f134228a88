// The driver's record of the claims it prepared on this node: what NodePrepareResources
// answered for each, and what it created (the region directory, the CDI spec). A repeated
// prepare answers from it; a driver restart keeps it; unprepare removes what it names. Stored
// as one JSON file, replaced atomically on every change.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/status.h"

namespace gpuslice::dra {

struct PreparedDevice {
  std::vector<std::string> request_names;
  std::string pool;
  std::string device;
  std::string share_id;  // empty: none
  std::vector<std::string> cdi_device_ids;
};

struct PreparedClaim {
  std::string uid;
  std::string namespace_name;
  std::string name;
  std::vector<PreparedDevice> devices;
  std::string region_dir;     // host path
  std::string cdi_spec_path;  // host path
};

// Not thread-safe: its owner serializes access.
class Checkpoint {
 public:
  explicit Checkpoint(std::string path) : path_(std::move(path)) {}

  // Reads the file; a missing file is an empty checkpoint. InvalidArgument naming the file
  // when it is not one this driver wrote (the claims stay unknown; the caller decides).
  Status Load();

  // Writes the file atomically. Returns the I/O error naming it.
  Status Save() const;

  const PreparedClaim* Find(const std::string& uid) const;
  void Put(PreparedClaim claim);
  void Erase(const std::string& uid);
  const std::map<std::string, PreparedClaim>& claims() const { return claims_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::map<std::string, PreparedClaim> claims_;  // by claim UID
};

}  // namespace gpuslice::dra
