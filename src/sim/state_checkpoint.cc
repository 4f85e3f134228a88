// Checkpoints of a process's device memory, driven by another process. A process's checkpoint
// state changes under GPU 0's memory lock; each GPU's memory moves under that GPU's lock (taken
// after GPU 0's, the order every locker of two follows).
#include <algorithm>
#include <optional>
#include <string>

#include "sim/internal/layout.h"
#include "sim/state.h"

namespace gpuslice::sim {
namespace {

using internal::ProcessSlot;

std::string Named(int pid) { return "process " + std::to_string(pid); }

const char* StateName(uint32_t state) {
  switch (state) {
    case internal::kCheckpointRunning:
      return "running";
    case internal::kCheckpointLocked:
      return "locked";
    default:
      return "checkpointed";
  }
}

}  // namespace

int SimState::LiveSlotOfPid(int pid) const {
  if (pid <= 0) return -1;
  const int in_use = static_cast<int>(std::min<uint32_t>(
      file_->slots_in_use.load(std::memory_order_acquire), internal::kMaxProcesses));
  for (int slot = 0; slot < in_use; ++slot) {
    const ProcessSlot& process = file_->slots[slot];
    if (process.state.load(std::memory_order_acquire) == internal::kSlotLive &&
        process.pid.load(std::memory_order_relaxed) == pid) {
      return slot;
    }
  }
  return -1;
}

bool SimState::MoveCheckpointedLocked(int slot, int index, bool to_gpu) {
  ProcessSlot& process = file_->slots[slot];
  internal::GpuState& gpu = file_->gpus[index];
  if (to_gpu) {
    const uint64_t bytes = process.checkpointed_memory[index].load(std::memory_order_relaxed);
    if (bytes > gpu.facts.memory_bytes || gpu.memory_used > gpu.facts.memory_bytes - bytes) {
      return false;
    }
    process.memory[index].fetch_add(bytes, std::memory_order_relaxed);
    process.checkpointed_memory[index].store(0, std::memory_order_relaxed);
    gpu.memory_used += bytes;
    return true;
  }
  const uint64_t bytes = process.memory[index].exchange(0, std::memory_order_relaxed);
  process.checkpointed_memory[index].fetch_add(bytes, std::memory_order_relaxed);
  gpu.memory_used = gpu.memory_used > bytes ? gpu.memory_used - bytes : 0;
  return true;
}

Result<CheckpointState> SimState::ProcessCheckpointState(int pid) {
  ReclaimDeadProcesses();
  const int slot = LiveSlotOfPid(pid);
  if (slot < 0) return Status::NotFound("no running " + Named(pid) + " uses the GPUs");
  internal::RobustLock lock(file_->gpus[0].memory_lock);
  if (lock.owner_died()) RecountMemoryLocked(0);
  return static_cast<CheckpointState>(
      file_->slots[slot].checkpoint_state.load(std::memory_order_relaxed));
}

Status SimState::Transition(int pid, uint32_t from, uint32_t to, Move move) {
  ReclaimDeadProcesses();
  const int slot = LiveSlotOfPid(pid);
  if (slot < 0) return Status::NotFound("no running " + Named(pid) + " uses the GPUs");
  std::atomic<uint32_t>& state = file_->slots[slot].checkpoint_state;
  internal::RobustLock lock(file_->gpus[0].memory_lock);
  if (lock.owner_died()) RecountMemoryLocked(0);
  const uint32_t current = state.load(std::memory_order_relaxed);
  if (current != from) {
    return Status::FailedPrecondition(Named(pid) + " is " + StateName(current) + ", not " +
                                      StateName(from));
  }
  if (move != Move::kNone) {
    const bool to_gpu = move == Move::kToGpus;
    // GPU 0's lock is held already; the others are taken one at a time after it.
    auto move_on = [&](int index, bool direction) {
      if (index == 0) return MoveCheckpointedLocked(slot, 0, direction);
      internal::RobustLock gpu_lock(file_->gpus[index].memory_lock);
      if (gpu_lock.owner_died()) RecountMemoryLocked(index);
      return MoveCheckpointedLocked(slot, index, direction);
    };
    for (int index = 0; index < gpu_count(); ++index) {
      if (move_on(index, to_gpu)) continue;
      // Only a restore can find no room; what it brought back goes back to the host.
      for (int undo = 0; undo < index; ++undo) move_on(undo, !to_gpu);
      return Status::ResourceExhausted("GPU " + std::to_string(index) +
                                       " has no room for the memory " + Named(pid) +
                                       " held when it was checkpointed");
    }
  }
  state.store(to, std::memory_order_relaxed);
  return Status::Ok();
}

Status SimState::LockProcess(int pid) {
  return Transition(pid, internal::kCheckpointRunning, internal::kCheckpointLocked, Move::kNone);
}

Status SimState::CheckpointProcess(int pid) {
  return Transition(pid, internal::kCheckpointLocked, internal::kCheckpointCheckpointed,
                    Move::kToHost);
}

Status SimState::RestoreProcess(int pid) {
  return Transition(pid, internal::kCheckpointCheckpointed, internal::kCheckpointLocked,
                    Move::kToGpus);
}

Status SimState::UnlockProcess(int pid) {
  return Transition(pid, internal::kCheckpointLocked, internal::kCheckpointRunning, Move::kNone);
}

}  // namespace gpuslice::sim
