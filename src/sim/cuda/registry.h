// Which handles of one kind are live, so an entry point given a stale or made-up handle
// answers CUDA_ERROR_INVALID_HANDLE (or _CONTEXT) like the real driver instead of crashing.
#pragma once

#include <mutex>
#include <shared_mutex>
#include <unordered_set>
#include <vector>

namespace gpuslice::sim::cuda {

// Thread-safe. Does not own the objects.
template <typename T>
class Registry {
 public:
  void Add(T* object) {
    std::unique_lock lock(mutex_);
    live_.insert(object);
  }
  // Returns false when `object` was not live.
  bool Remove(T* object) {
    std::unique_lock lock(mutex_);
    return live_.erase(object) > 0;
  }
  bool Contains(const T* object) const {
    std::shared_lock lock(mutex_);
    return live_.count(const_cast<T*>(object)) > 0;
  }
  // The live objects for which `match` holds, e.g. those of one context.
  template <typename Match>
  std::vector<T*> Select(Match match) const {
    std::shared_lock lock(mutex_);
    std::vector<T*> selected;
    for (T* object : live_) {
      if (match(*object)) selected.push_back(object);
    }
    return selected;
  }

 private:
  mutable std::shared_mutex mutex_;
  std::unordered_set<T*> live_;
};

}  // namespace gpuslice::sim::cuda
