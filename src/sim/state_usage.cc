// The usage side of the shared state: reclaiming dead processes' memory, and the memory,
// kernel time, utilization and per-process samples every process sees.
#include <algorithm>
#include <cstring>

#include "sim/internal/clock.h"
#include "sim/internal/layout.h"
#include "sim/internal/slot_lock.h"
#include "sim/state.h"

namespace gpuslice::sim {
namespace {

// Kernel time elapsed on the GPU by `now`: all of it but what is still queued ahead.
uint64_t BusyElapsed(const internal::GpuState& gpu, uint64_t now) {
  const uint64_t pending = gpu.busy_until_ns > now ? gpu.busy_until_ns - now : 0;
  return gpu.busy_scheduled_ns > pending ? gpu.busy_scheduled_ns - pending : 0;
}

}  // namespace

void SimState::RecountMemoryLocked(int index) {
  uint64_t total = 0;
  for (const internal::ProcessSlot& slot : file_->slots) {
    total += slot.memory[index].load(std::memory_order_relaxed);
  }
  file_->gpus[index].memory_used = total;
}

void SimState::ReclaimSlot(int slot) {
  internal::ProcessSlot& process = file_->slots[slot];
  for (int i = 0; i < gpu_count(); ++i) {
    internal::GpuState& gpu = file_->gpus[i];
    internal::RobustLock lock(gpu.memory_lock);
    if (lock.owner_died()) RecountMemoryLocked(i);
    const uint64_t bytes = process.memory[i].load(std::memory_order_relaxed);
    gpu.memory_used = gpu.memory_used > bytes ? gpu.memory_used - bytes : 0;
    process.memory[i].store(0, std::memory_order_relaxed);
    process.contexts[i].store(0, std::memory_order_relaxed);
    // A checkpoint held in host memory goes with its process.
    process.checkpointed_memory[i].store(0, std::memory_order_relaxed);
  }
  process.checkpoint_state.store(internal::kCheckpointRunning, std::memory_order_relaxed);
  process.ended_ns.store(internal::RealtimeNs(), std::memory_order_relaxed);
  process.state.store(internal::kSlotExited, std::memory_order_release);
}

void SimState::ReclaimDeadProcesses() {
  std::lock_guard<std::mutex> guard(reclaim_mutex_);
  const int in_use = static_cast<int>(std::min<uint32_t>(
      file_->slots_in_use.load(std::memory_order_acquire), internal::kMaxProcesses));
  for (int slot = 0; slot < in_use; ++slot) {
    if (file_->slots[slot].state.load(std::memory_order_acquire) != internal::kSlotLive) continue;
    if (!internal::TryLockSlot(probe_fd_, slot)) continue;  // its owner is alive
    // Re-check under the lock: the slot may have been released or reclaimed meanwhile.
    if (file_->slots[slot].state.load(std::memory_order_acquire) == internal::kSlotLive) {
      ReclaimSlot(slot);
    }
    internal::UnlockSlot(probe_fd_, slot);
  }
}

uint64_t SimState::MemoryUsed(int index) {
  ReclaimDeadProcesses();
  internal::GpuState& gpu = file_->gpus[index];
  internal::RobustLock lock(gpu.memory_lock);
  if (lock.owner_died()) RecountMemoryLocked(index);
  return gpu.memory_used;
}

GpuUsage SimState::Usage(int index) {
  ReclaimDeadProcesses();
  internal::GpuState& gpu = file_->gpus[index];
  GpuUsage usage;
  usage.memory_total = gpu.facts.memory_bytes;
  usage.lost = IsLost(index);
  {
    internal::RobustLock lock(gpu.memory_lock);
    if (lock.owner_died()) RecountMemoryLocked(index);
    usage.memory_used = gpu.memory_used;
  }
  {
    internal::RobustLock lock(gpu.timeline_lock);
    const uint64_t now = internal::MonotonicNs();
    usage.busy_ns = BusyElapsed(gpu, now);
    // Keep a snapshot about every 100 ms, and measure against the newest one at least a
    // second old (or the oldest one there is), like NVML's sampling period.
    const uint32_t newest =
        (gpu.next_snapshot + internal::kUtilizationSnapshots - 1) % internal::kUtilizationSnapshots;
    if (now - gpu.snapshots[newest].time_ns >= 100'000'000ULL) {
      gpu.snapshots[gpu.next_snapshot] = {now, usage.busy_ns};
      gpu.next_snapshot = (gpu.next_snapshot + 1) % internal::kUtilizationSnapshots;
    }
    const internal::UtilizationSnapshot* reference = nullptr;
    for (const internal::UtilizationSnapshot& snapshot : gpu.snapshots) {
      if (snapshot.time_ns == 0 || snapshot.time_ns >= now) continue;
      const bool old_enough = now - snapshot.time_ns >= 1'000'000'000ULL;
      if (reference == nullptr) {
        reference = &snapshot;
      } else if (old_enough) {
        const bool reference_old_enough = now - reference->time_ns >= 1'000'000'000ULL;
        if (!reference_old_enough || snapshot.time_ns > reference->time_ns) reference = &snapshot;
      } else if (now - reference->time_ns < 1'000'000'000ULL &&
                 snapshot.time_ns < reference->time_ns) {
        reference = &snapshot;
      }
    }
    if (reference != nullptr && usage.busy_ns >= reference->busy_ns) {
      usage.utilization_percent =
          std::min(100.0, 100.0 * static_cast<double>(usage.busy_ns - reference->busy_ns) /
                              static_cast<double>(now - reference->time_ns));
    }
  }
  usage.processes = CollectProcesses(index);
  return usage;
}

std::vector<ProcessUtilizationSample> SimState::ProcessUtilization(int index, uint64_t after_us) {
  ReclaimDeadProcesses();
  internal::GpuState& gpu = file_->gpus[index];
  std::vector<ProcessUtilizationSample> samples;
  internal::RobustLock lock(gpu.timeline_lock);
  const uint64_t now = internal::MonotonicNs();
  const uint64_t period = now - gpu.last_process_sample_ns;
  if (period >= kProcessSamplePeriodNs) {
    internal::ProcessSampleSet& set = gpu.process_samples[gpu.next_process_sample];
    set.time_us = internal::RealtimeNs() / 1000;
    set.count = 0;
    const int in_use = static_cast<int>(std::min<uint32_t>(
        file_->slots_in_use.load(std::memory_order_acquire), internal::kMaxProcesses));
    for (int slot_index = 0; slot_index < in_use; ++slot_index) {
      internal::ProcessSlot& slot = file_->slots[slot_index];
      if (slot.state.load(std::memory_order_acquire) != internal::kSlotLive) continue;
      const uint64_t queued = slot.busy_ns[index].load(std::memory_order_relaxed);
      if (queued == 0 && slot.contexts[index].load(std::memory_order_relaxed) == 0) continue;
      // Its kernels still ahead of `now` end by its tail, so at most that much of its
      // queued time has not run yet. Exact when its pending kernels are back to back.
      const uint64_t tail = slot.tail_ns[index].load(std::memory_order_relaxed);
      const uint64_t pending = std::min(queued, tail > now ? tail - now : 0);
      const uint64_t elapsed = std::max(queued - pending, slot.sampled_busy_ns[index]);
      const uint64_t ran = elapsed - slot.sampled_busy_ns[index];
      slot.sampled_busy_ns[index] = elapsed;
      if (set.count == internal::kProcessesPerSample) continue;
      const uint64_t percent = (ran * 100 + period / 2) / period;
      set.entries[set.count++] = {slot.pid.load(std::memory_order_relaxed),
                                  static_cast<uint32_t>(std::min<uint64_t>(percent, 100))};
    }
    gpu.next_process_sample = (gpu.next_process_sample + 1) % internal::kProcessSampleRing;
    gpu.last_process_sample_ns = now;
  }
  for (const internal::ProcessSampleSet& set : gpu.process_samples) {
    if (set.time_us <= after_us) continue;
    for (uint32_t i = 0; i < set.count; ++i) {
      samples.push_back({set.entries[i].pid, set.time_us, set.entries[i].sm_util});
    }
  }
  return samples;
}

std::vector<ProcessUsage> SimState::Processes() {
  ReclaimDeadProcesses();
  return CollectProcesses(-1);
}

std::vector<ProcessUsage> SimState::CollectProcesses(int index) const {
  std::vector<ProcessUsage> processes;
  const int in_use = static_cast<int>(std::min<uint32_t>(
      file_->slots_in_use.load(std::memory_order_acquire), internal::kMaxProcesses));
  for (int slot = 0; slot < in_use; ++slot) {
    const internal::ProcessSlot& process = file_->slots[slot];
    const uint32_t state = process.state.load(std::memory_order_acquire);
    if (state == internal::kSlotFree) continue;
    // A checkpointed process holds nothing on the GPUs, so NVML does not list it there.
    if (index >= 0 && process.checkpoint_state.load(std::memory_order_relaxed) ==
                          internal::kCheckpointCheckpointed) {
      continue;
    }
    ProcessUsage usage;
    usage.pid = process.pid.load(std::memory_order_relaxed);
    usage.command = std::string(process.command, strnlen(process.command, sizeof(process.command)));
    usage.running = state == internal::kSlotLive;
    const int first = index < 0 ? 0 : index;
    const int last = index < 0 ? gpu_count() : index + 1;
    for (int i = first; i < last; ++i) {
      usage.memory_bytes += process.memory[i].load(std::memory_order_relaxed);
      usage.busy_ns += process.busy_ns[i].load(std::memory_order_relaxed);
      usage.contexts += process.contexts[i].load(std::memory_order_relaxed);
    }
    if (usage.memory_bytes == 0 && usage.busy_ns == 0 && usage.contexts == 0) continue;
    processes.push_back(std::move(usage));
  }
  return processes;
}

}  // namespace gpuslice::sim
