#include "sim/internal/slot_lock.h"

#include <fcntl.h>

#include <cerrno>

#include "sim/internal/layout.h"

namespace gpuslice::sim::internal {
namespace {

bool SlotLock(int fd, int slot, short type) {
  struct flock lock {};
  lock.l_type = type;
  lock.l_whence = SEEK_SET;
  lock.l_start = kSlotLockBase + slot;
  lock.l_len = 1;
  int result;
  do {
    result = fcntl(fd, F_OFD_SETLK, &lock);
  } while (result != 0 && errno == EINTR);
  return result == 0;
}

}  // namespace

bool TryLockSlot(int fd, int slot) { return SlotLock(fd, slot, F_WRLCK); }

void UnlockSlot(int fd, int slot) { SlotLock(fd, slot, F_UNLCK); }

}  // namespace gpuslice::sim::internal
