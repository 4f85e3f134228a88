// Keeps the node's ResourceSlice in the API server equal to what the driver wants to publish:
// creates it, updates it (raising the pool's generation) when the GPUs or their health change,
// recreates it when something deleted it (the kubelet wipes a driver's slices when the driver
// is gone for a while, and all slices of the node when it restarts), and removes slices of this
// driver and node under other names.
#pragma once

#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "core/status.h"
#include "kubeapi/client.h"

namespace gpuslice::dra {

// Two slice specs publish the same thing: devices, node, driver and pool name equal, with
// quantities compared by value ("1Gi" equals "1073741824"); the pool generation is ignored.
bool SameSliceContent(const nlohmann::json& a, const nlohmann::json& b);

// Thread-safe.
class SlicePublisher {
 public:
  explicit SlicePublisher(kubeapi::Client& client) : client_(client) {}

  // Makes the API server hold `slice` (a ResourceSlice from BuildResourceSlice; its pool
  // generation is replaced). Returns OK with nothing written when it already does; otherwise
  // the API error.
  Status Reconcile(const nlohmann::json& slice);

  // How many writes Reconcile made (creates and updates), for tests and logs.
  int writes() const;

 private:
  kubeapi::Client& client_;
  mutable std::mutex mutex_;
  int writes_ = 0;
};

}  // namespace gpuslice::dra
