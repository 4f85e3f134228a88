#include "plugin/plugin_state.h"

namespace gpuslice::plugin {

void PluginState::SetInventory(std::shared_ptr<const core::Config> config,
                               std::shared_ptr<const Inventory> inventory,
                               std::shared_ptr<RegionStore> regions) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    snapshot_.config = std::move(config);
    snapshot_.inventory = std::move(inventory);
    snapshot_.regions = std::move(regions);
    ++snapshot_.generation;
  }
  changed_.notify_all();
}

void PluginState::SetUnhealthy(std::map<std::string, std::string> unhealthy) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    snapshot_.unhealthy = std::move(unhealthy);
    ++snapshot_.generation;
  }
  changed_.notify_all();
}

PluginSnapshot PluginState::Get() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return snapshot_;
}

PluginSnapshot PluginState::WaitForChange(uint64_t seen, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mutex_);
  const uint64_t wakeups = wakeups_;
  changed_.wait_for(lock, timeout,
                    [&] { return snapshot_.generation != seen || wakeups_ != wakeups; });
  return snapshot_;
}

void PluginState::Wake() const {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++wakeups_;
  }
  changed_.notify_all();
}

}  // namespace gpuslice::plugin
