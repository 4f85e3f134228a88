#include "sim/internal/robust_mutex.h"

#include <linux/futex.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <thread>

namespace gpuslice::sim::internal {

void RobustMutex::Init() {
  pthread_mutexattr_t attributes;
  pthread_mutexattr_init(&attributes);
  pthread_mutexattr_setpshared(&attributes, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&attributes, PTHREAD_MUTEX_ROBUST);
  pthread_mutex_init(&mutex_, &attributes);
  pthread_mutexattr_destroy(&attributes);
}

bool RobustMutex::Lock() {
  const int result = pthread_mutex_lock(&mutex_);
  if (result == 0) return false;
  if (result == EOWNERDEAD) {
    pthread_mutex_consistent(&mutex_);
    return true;
  }
  // ENOTRECOVERABLE cannot happen: every owner-died lock is made consistent above. Anything
  // else means the shared state is corrupt, and continuing would corrupt accounting silently.
  std::fprintf(stderr, "gpuslice-sim: shared state mutex failed (error %d)\n", result);
  std::abort();
}

void RobustMutex::Unlock() { pthread_mutex_unlock(&mutex_); }

std::string RobustMutex::Problem(std::chrono::nanoseconds wait) const {
  static const int kExpectedKind = [] {
    RobustMutex reference{};
    reference.Init();
    const int kind = reference.mutex_.__data.__kind;
    pthread_mutex_destroy(&reference.mutex_);
    return kind;
  }();
  // glibc's marks in __owner (nptl/pthreadP.h).
  constexpr int kNotRecoverable = INT_MAX - 1;
  // The largest thread ID Linux hands out (PID_MAX_LIMIT).
  constexpr int kMaxThreadId = 4 * 1024 * 1024;

  if (mutex_.__data.__kind != kExpectedKind) {
    return "not a robust process-shared mutex (kind " + std::to_string(mutex_.__data.__kind) + ")";
  }
  if (mutex_.__data.__owner == kNotRecoverable) return "marked unrecoverable";
  const int* word = &mutex_.__data.__lock;
  const int lock = __atomic_load_n(word, __ATOMIC_ACQUIRE);
  if (lock == 0 || (lock & FUTEX_OWNER_DIED) != 0) return "";
  const int holder = lock & FUTEX_TID_MASK;
  if (holder == 0 || holder > kMaxThreadId) {
    return "held by no possible thread (lock word " + std::to_string(lock) + ")";
  }
  // A live holder keeps a lock for microseconds: any change of the word means it is alive.
  const auto deadline = std::chrono::steady_clock::now() + wait;
  while (std::chrono::steady_clock::now() < deadline) {
    if (__atomic_load_n(word, __ATOMIC_ACQUIRE) != lock) return "";
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  if (__atomic_load_n(word, __ATOMIC_ACQUIRE) != lock) return "";
  return "held by thread " + std::to_string(holder) + " for more than " +
         std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(wait).count()) +
         " ms";
}

}  // namespace gpuslice::sim::internal
