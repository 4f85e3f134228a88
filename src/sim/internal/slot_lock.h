// Ownership of process slots: slot s belongs to whoever holds the write lock on byte
// kSlotLockBase + s of the state file. The locks are open-file-description locks, so the
// kernel drops them when their owner dies (however it dies), they do not depend on PIDs,
// and two descriptors opened separately conflict even within one process.
#pragma once

namespace gpuslice::sim::internal {

// Takes the lock of `slot` through `fd` without waiting. False when another open file
// description holds it (its owner is alive).
bool TryLockSlot(int fd, int slot);
void UnlockSlot(int fd, int slot);

}  // namespace gpuslice::sim::internal
