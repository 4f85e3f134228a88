// A mutex that lives in memory shared by several processes and survives its owner being
// killed: the next locker is told, so it can repair what the dead owner left half-done.
#pragma once

#include <pthread.h>

#include <chrono>
#include <string>

namespace gpuslice::sim::internal {

// Standard layout; placed in the shared state file and initialized once by its creator.
// Thread-safe and process-safe.
class RobustMutex {
 public:
  // Prepares a zeroed RobustMutex in shared memory. REQUIRES: nobody uses it yet.
  void Init();

  // Blocks until locked. Returns true when the previous owner died holding the lock: the
  // caller now owns it and must bring the data it guards back to a consistent state.
  bool Lock();
  void Unlock();

  // Judges a mapped mutex before anyone relies on it, from its bytes and without locking it:
  // empty when it is one Init() made and it is free, held by a live thread, or left by a dead
  // owner (the next Lock() repairs); otherwise what is wrong: another kind of mutex, one marked
  // unrecoverable, or one whose holder has not let go for `wait` (a thread that does not exist,
  // from a corrupt file, would block every Lock() forever). glibc's mutex layout.
  std::string Problem(std::chrono::nanoseconds wait) const;

 private:
  pthread_mutex_t mutex_;
};

// Holds a RobustMutex for a scope and reports whether the previous owner died.
class RobustLock {
 public:
  explicit RobustLock(RobustMutex& mutex) : mutex_(mutex), owner_died_(mutex.Lock()) {}
  ~RobustLock() { mutex_.Unlock(); }
  RobustLock(const RobustLock&) = delete;
  RobustLock& operator=(const RobustLock&) = delete;

  bool owner_died() const { return owner_died_; }

 private:
  RobustMutex& mutex_;
  bool owner_died_;
};

}  // namespace gpuslice::sim::internal
