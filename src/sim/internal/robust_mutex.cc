#include "sim/internal/robust_mutex.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>

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

}  // namespace gpuslice::sim::internal
