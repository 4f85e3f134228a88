#include "sim/process_account.h"

#include <fcntl.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
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
    slot.contexts[i].store(0, std::memory_order_relaxed);
  }
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
  auto claim = [&](int slot) -> std::unique_ptr<ProcessAccount> {
    if (file->slots[slot].state.load(std::memory_order_acquire) == internal::kSlotLive) {
      state->ReclaimSlot(slot);  // we hold its lock, so its owner is dead
    }
    Occupy(file->slots[slot]);
    return std::unique_ptr<ProcessAccount>(new ProcessAccount(state, fd, slot));
  };
  // First a free or dead process's slot among those used so far, then a never-used one, then
  // the slot of the process that exited longest ago.
  const int in_use = static_cast<int>(
      std::min<uint32_t>(file->slots_in_use.load(std::memory_order_acquire), kMaxProcesses));
  int oldest_exited = -1;
  for (int slot = 0; slot < in_use; ++slot) {
    const uint32_t slot_state = file->slots[slot].state.load(std::memory_order_acquire);
    if (slot_state == internal::kSlotExited) {
      if (oldest_exited < 0 ||
          file->slots[slot].ended_ns.load(std::memory_order_relaxed) <
              file->slots[oldest_exited].ended_ns.load(std::memory_order_relaxed)) {
        oldest_exited = slot;
      }
      continue;
    }
    if (internal::TryLockSlot(fd, slot)) {
      if (file->slots[slot].state.load(std::memory_order_acquire) != internal::kSlotExited) {
        return claim(slot);
      }
      internal::UnlockSlot(fd, slot);
    }
  }
  for (;;) {
    uint32_t next = file->slots_in_use.load(std::memory_order_acquire);
    if (next >= static_cast<uint32_t>(kMaxProcesses)) break;
    if (file->slots_in_use.compare_exchange_weak(next, next + 1, std::memory_order_acq_rel) &&
        internal::TryLockSlot(fd, static_cast<int>(next))) {
      return claim(static_cast<int>(next));
    }
  }
  if (oldest_exited >= 0 && internal::TryLockSlot(fd, oldest_exited)) {
    return claim(oldest_exited);
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
      if (lock.owner_died()) {
        // The dead owner may have changed its slot but not the total: recount.
        uint64_t total = 0;
        for (const ProcessSlot& other : state_->file()->slots) {
          total += other.memory[gpu].load(std::memory_order_relaxed);
        }
        state.memory_used = total;
      }
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
    // timeline: the busy time is off by one kernel, which the readers clamp. No repair.
    internal::RobustLock lock(state.timeline_lock);
    const uint64_t start = std::max({internal::MonotonicNs(), state.busy_until_ns, not_before_ns});
    end = start + duration_ns;
    state.busy_scheduled_ns += duration_ns;
    state.busy_until_ns = end;
  }
  state_->file()->slots[slot_].busy_ns[gpu].fetch_add(duration_ns, std::memory_order_relaxed);
  return end;
}

uint64_t ProcessAccount::BusyNs(int gpu) const {
  return state_->file()->slots[slot_].busy_ns[gpu].load(std::memory_order_relaxed);
}

}  // namespace gpuslice::sim
