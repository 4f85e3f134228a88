// What the per-resource servers serve: the config, the inventory and which GPUs are
// unhealthy, replaced as a whole on every change and versioned so ListAndWatch streams can
// wait for the next version.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "core/config.h"
#include "plugin/inventory.h"
#include "plugin/region_store.h"

namespace gpuslice::plugin {

struct PluginSnapshot {
  std::shared_ptr<const core::Config> config;
  std::shared_ptr<const Inventory> inventory;
  std::shared_ptr<RegionStore> regions;  // where this config puts allocation regions
  std::map<std::string, std::string> unhealthy;  // GPU UUID -> reason
  uint64_t generation = 0;
};

// Thread-safe.
class PluginState {
 public:
  // Replaces the config, inventory and region store (after discovery or a reload).
  void SetInventory(std::shared_ptr<const core::Config> config,
                    std::shared_ptr<const Inventory> inventory,
                    std::shared_ptr<RegionStore> regions);
  // Replaces the set of unhealthy GPUs.
  void SetUnhealthy(std::map<std::string, std::string> unhealthy);

  PluginSnapshot Get() const;

  // Blocks until the generation differs from `seen`, Wake() is called, or `timeout` passes.
  // Returns the current snapshot either way.
  PluginSnapshot WaitForChange(uint64_t seen, std::chrono::milliseconds timeout) const;

  // Wakes every waiter, e.g. so stopping streams notice at once.
  void Wake() const;

 private:
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  mutable uint64_t wakeups_ = 0;
  PluginSnapshot snapshot_;
};

}  // namespace gpuslice::plugin
