// One process's use of the simulated GPUs: its slot in the shared state, through which it
// reserves and releases device memory, counts its contexts and queues kernel time. The
// simulated CUDA driver holds one per process; tests use it directly.
#pragma once

#include <cstdint>
#include <memory>

#include "core/status.h"
#include "sim/state.h"

namespace gpuslice::sim {

// Thread-safe. The slot stays this process's until the account is destroyed or the process
// dies; either way its memory goes back to the GPUs (a dead process's when anyone next looks
// at the state), and its kernel time stays readable until the slot is reused.
class ProcessAccount {
 public:
  // Claims a never-used slot, else the slot of the process that exited longest ago (dead
  // processes' slots are reclaimed first). Fails with ResourceExhausted when every slot
  // belongs to a live process.
  static Result<std::unique_ptr<ProcessAccount>> Register(SimState* state);

  // Gives every byte of memory this process still holds back and marks the slot exited.
  ~ProcessAccount();
  ProcessAccount(const ProcessAccount&) = delete;
  ProcessAccount& operator=(const ProcessAccount&) = delete;

  // Takes `bytes` of GPU `gpu`'s memory for this process. ResourceExhausted when the GPU
  // does not have that much free (after reclaiming dead processes' memory).
  Status Reserve(int gpu, uint64_t bytes);
  // REQUIRES: this process reserved at least `bytes` on `gpu` and did not release them yet.
  void Release(int gpu, uint64_t bytes);
  uint64_t MemoryUsed(int gpu) const;

  void AddContext(int gpu);
  void RemoveContext(int gpu);

  // Queues a kernel that keeps GPU `gpu` busy for `duration_ns`, after every kernel queued
  // before it by any process and no earlier than `not_before_ns`. Returns when it will end
  // (CLOCK_MONOTONIC nanoseconds).
  uint64_t ScheduleKernel(int gpu, uint64_t not_before_ns, uint64_t duration_ns);

  // Kernel time this process queued on `gpu`.
  uint64_t BusyNs(int gpu) const;

  // In a child after fork(): lets go of the parent's slot without touching it, so the
  // parent keeps its accounting and the child's exit does not end it.
  void AbandonAfterFork();

  int slot() const { return slot_; }
  SimState& state() const { return *state_; }

 private:
  ProcessAccount(SimState* state, int fd, int slot) : state_(state), fd_(fd), slot_(slot) {}

  SimState* state_;
  int fd_;  // holds the slot's lock for as long as it is open; -1 once abandoned
  int slot_;
};

}  // namespace gpuslice::sim
