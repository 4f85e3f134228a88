#include "sim/process_account.h"

#include <fcntl.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <utility>
#include <vector>
#include <cerrno>
#include <cstring>

#include "sim/internal/clock.h"
#include "sim/internal/layout.h"
#include "sim/internal/slot_lock.h"

namespace gpuslice::sim {
namespace {

using internal::kMaxProcesses;
using internal::ProcessSlot;
using internal::StateFile;

void Occupy(ProcessSlot& slot) {
  for (int i = 0; i < kMaxGpus; ++i) {
    slot.memory[i].store(0, std::memory_order_relaxed);
    slot.busy_ns[i].store(0, std::memory_order_relaxed);
    slot.tail_ns[i].store(0, std::memory_order_relaxed);
    slot.sampled_busy_ns[i] = 0;
    slot.contexts[i].store(0, std::memory_order_relaxed);
    slot.checkpointed_memory[i].store(0, std::memory_order_relaxed);
  }
  slot.checkpoint_state.store(internal::kCheckpointRunning, std::memory_order_relaxed);
  char command[16] = {};
  prctl(PR_GET_NAME, command, 0, 0, 0);
  std::memcpy(slot.command, command, sizeof(slot.command));
  slot.command[sizeof(slot.command) - 1] = '\0';
  slot.pid.store(getpid(), std::memory_order_relaxed);
  slot.started_ns.store(internal::RealtimeNs(), std::memory_order_relaxed);
  slot.ended_ns.store(0, std::memory_order_relaxed);
  slot.state.store(internal::kSlotLive, std::memory_order_release);
}

}  // namespace

Result<std::unique_ptr<ProcessAccount>> ProcessAccount::Register(SimState* state) {
  const int fd = open(state->path().c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    return Status::Unavailable("cannot open state file '" + state->path() +
                               "': " + std::strerror(errno));
  }
  StateFile* file = state->file();
  auto claim = [&](int slot) {
    Occupy(file->slots[slot]);
    return std::unique_ptr<ProcessAccount>(new ProcessAccount(state, fd, slot));
  };
  // Dead processes' slots are reclaimed but kept (their kernel time stays readable); a slot
  // never used comes first, then the one of the process that exited longest ago.
  state->ReclaimDeadProcesses();
  for (;;) {
    uint32_t next = file->slots_in_use.load(std::memory_order_acquire);
    if (next >= static_cast<uint32_t>(kMaxProcesses)) break;
    if (file->slots_in_use.compare_exchange_weak(next, next + 1, std::memory_order_acq_rel) &&
        internal::TryLockSlot(fd, static_cast<int>(next))) {
      return claim(static_cast<int>(next));
    }
  }
  std::vector<std::pair<uint64_t, int>> exited;
  for (int slot = 0; slot < kMaxProcesses; ++slot) {
    if (file->slots[slot].state.load(std::memory_order_acquire) == internal::kSlotExited) {
      exited.emplace_back(file->slots[slot].ended_ns.load(std::memory_order_relaxed), slot);
    }
  }
  std::sort(exited.begin(), exited.end());
  for (const auto& [ended, slot] : exited) {
    // Another process registering at the same time may have taken it first.
    if (!internal::TryLockSlot(fd, slot)) continue;
    if (file->slots[slot].state.load(std::memory_order_acquire) == internal::kSlotExited) {
      return claim(slot);
    }
    internal::UnlockSlot(fd, slot);
  }
  close(fd);
  return Status::ResourceExhausted("all " + std::to_string(kMaxProcesses) +
                                   " process slots of the simulated GPUs are in use");
}

ProcessAccount::~ProcessAccount() {
  if (fd_ < 0) return;  // abandoned after fork
  state_->ReclaimSlot(slot_);
  internal::UnlockSlot(fd_, slot_);
  close(fd_);
}

void ProcessAccount::AbandonAfterFork() {
  // The lock belongs to the open file description shared with the parent; closing only the
  // child's descriptor leaves the lock with the parent, so the parent's death is still seen.
  close(fd_);
  fd_ = -1;
}

Status ProcessAccount::Reserve(int gpu, uint64_t bytes) {
  internal::GpuState& state = state_->file()->gpus[gpu];
  ProcessSlot& slot = state_->file()->slots[slot_];
  for (int attempt = 0; attempt < 2; ++attempt) {
    {
      internal::RobustLock lock(state.memory_lock);
      if (lock.owner_died()) state_->RecountMemoryLocked(gpu);
      if (bytes <= state.facts.memory_bytes &&
          state.memory_used <= state.facts.memory_bytes - bytes) {
        slot.memory[gpu].fetch_add(bytes, std::memory_order_relaxed);
        state.memory_used += bytes;
        return Status::Ok();
      }
    }
    if (attempt == 0) state_->ReclaimDeadProcesses();
  }
  return Status::ResourceExhausted("GPU " + std::to_string(gpu) + " has less than " +
                                   std::to_string(bytes) + " bytes free");
}

void ProcessAccount::Release(int gpu, uint64_t bytes) {
  internal::GpuState& state = state_->file()->gpus[gpu];
  ProcessSlot& slot = state_->file()->slots[slot_];
  internal::RobustLock lock(state.memory_lock);
  if (lock.owner_died()) state_->RecountMemoryLocked(gpu);
  const uint64_t held = slot.memory[gpu].load(std::memory_order_relaxed);
  const uint64_t released = std::min(held, bytes);
  slot.memory[gpu].store(held - released, std::memory_order_relaxed);
  state.memory_used = state.memory_used > released ? state.memory_used - released : 0;
}

uint64_t ProcessAccount::MemoryUsed(int gpu) const {
  return state_->file()->slots[slot_].memory[gpu].load(std::memory_order_relaxed);
}

void ProcessAccount::AddContext(int gpu) {
  state_->file()->slots[slot_].contexts[gpu].fetch_add(1, std::memory_order_relaxed);
}

void ProcessAccount::RemoveContext(int gpu) {
  std::atomic<uint32_t>& contexts = state_->file()->slots[slot_].contexts[gpu];
  uint32_t current = contexts.load(std::memory_order_relaxed);
  while (current > 0 &&
         !contexts.compare_exchange_weak(current, current - 1, std::memory_order_relaxed)) {
  }
}

uint64_t ProcessAccount::ScheduleKernel(int gpu, uint64_t not_before_ns, uint64_t duration_ns) {
  internal::GpuState& state = state_->file()->gpus[gpu];
  uint64_t end;
  {
    // A dead owner leaves at worst one kernel counted as scheduled without extending the
    // timeline (or its process's tail): the busy time is off by one kernel, which the readers
    // clamp. No repair.
    internal::RobustLock lock(state.timeline_lock);
    const uint64_t start = std::max({internal::MonotonicNs(), state.busy_until_ns, not_before_ns});
    end = start + duration_ns;
    state.busy_scheduled_ns += duration_ns;
    state.busy_until_ns = end;
    ProcessSlot& slot = state_->file()->slots[slot_];
    slot.busy_ns[gpu].fetch_add(duration_ns, std::memory_order_relaxed);
    slot.tail_ns[gpu].store(end, std::memory_order_relaxed);
  }
  return end;
}

uint64_t ProcessAccount::BusyNs(int gpu) const {
  return state_->file()->slots[slot_].busy_ns[gpu].load(std::memory_order_relaxed);
}

}  // namespace gpuslice::sim
