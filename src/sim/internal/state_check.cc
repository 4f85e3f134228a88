#include "sim/internal/state_check.h"

#include <cstring>

namespace gpuslice::sim::internal {
namespace {

template <size_t N>
std::string ReadText(const char (&field)[N]) {
  return std::string(field, strnlen(field, N));
}

// Everything but the memory totals, which need the memory lock.
std::string LockFreeProblem(const StateFile& file, std::chrono::nanoseconds lock_wait) {
  const uint32_t ready = file.ready.load(std::memory_order_acquire);
  if (ready != 1) return "ready flag " + std::to_string(ready);
  SimSpec spec;
  spec.cuda_version = file.cuda_version;
  spec.driver_version = ReadText(file.driver_version);
  for (uint32_t i = 0; i < file.gpu_count; ++i) spec.gpus.push_back(ReadFacts(file.gpus[i].facts));
  if (Status valid = ValidateSpec(spec); !valid.ok()) return valid.message();

  for (uint32_t i = 0; i < file.gpu_count; ++i) {
    const GpuState& gpu = file.gpus[i];
    const std::string name = "GPU " + std::to_string(i) + ": ";
    const uint32_t lost = gpu.lost.load(std::memory_order_acquire);
    if (lost > 1) return name + "lost flag " + std::to_string(lost);
    for (const auto& [lock, what] : {std::pair{&gpu.memory_lock, "memory lock"},
                                     std::pair{&gpu.timeline_lock, "timeline lock"},
                                     std::pair{&gpu.event_lock, "event lock"}}) {
      const std::string problem = lock->Problem(lock_wait);
      if (!problem.empty()) return name + what + " " + problem;
    }
    // Ring positions and sample counts are only ever written in range, under timeline_lock.
    if (gpu.next_snapshot >= kUtilizationSnapshots) {
      return name + "utilization snapshot position " + std::to_string(gpu.next_snapshot);
    }
    if (gpu.next_process_sample >= kProcessSampleRing) {
      return name + "process sample position " + std::to_string(gpu.next_process_sample);
    }
    for (const ProcessSampleSet& set : gpu.process_samples) {
      if (set.count > kProcessesPerSample) {
        return name + "a process sample of " + std::to_string(set.count) + " processes";
      }
    }
  }

  const uint32_t in_use = file.slots_in_use.load(std::memory_order_acquire);
  if (in_use > static_cast<uint32_t>(kMaxProcesses)) {
    return std::to_string(in_use) + " process slots in use of " + std::to_string(kMaxProcesses);
  }
  for (int s = 0; s < kMaxProcesses; ++s) {
    const ProcessSlot& slot = file.slots[s];
    const uint32_t state = slot.state.load(std::memory_order_acquire);
    const std::string name = "process slot " + std::to_string(s) + ": ";
    if (state > kSlotExited) return name + "state " + std::to_string(state);
    if (state == kSlotFree) continue;
    // Slots are claimed in order: none past the high-water mark is ever used. The mark only
    // grows, and a process registering meanwhile raises it before it marks its slot in use,
    // so it is read again before judging.
    if (static_cast<uint32_t>(s) >= in_use &&
        static_cast<uint32_t>(s) >= file.slots_in_use.load(std::memory_order_acquire)) {
      return name + "in use past the slots ever claimed";
    }
    if (slot.pid.load(std::memory_order_relaxed) <= 0) {
      return name + "PID " + std::to_string(slot.pid.load(std::memory_order_relaxed));
    }
    if (slot.checkpoint_state.load(std::memory_order_relaxed) > kCheckpointCheckpointed) {
      return name + "checkpoint state " +
             std::to_string(slot.checkpoint_state.load(std::memory_order_relaxed));
    }
    for (int g = static_cast<int>(file.gpu_count); g < kMaxGpus; ++g) {
      if (slot.memory[g].load(std::memory_order_relaxed) != 0 ||
          slot.checkpointed_memory[g].load(std::memory_order_relaxed) != 0) {
        return name + "memory on GPU " + std::to_string(g) + ", which the node does not have";
      }
    }
  }
  return "";
}

// Under the GPU's memory lock: the slots are the truth, and the total must be their sum.
std::string MemoryProblem(StateFile& file, uint32_t index) {
  GpuState& gpu = file.gpus[index];
  RobustLock lock(gpu.memory_lock);
  uint64_t total = 0;
  for (const ProcessSlot& slot : file.slots) {
    const uint64_t bytes = slot.memory[index].load(std::memory_order_relaxed);
    if (bytes > gpu.facts.memory_bytes - total) {
      return "GPU " + std::to_string(index) + ": processes hold more memory than it has";
    }
    if (bytes != 0 && slot.state.load(std::memory_order_acquire) != kSlotLive) {
      return "GPU " + std::to_string(index) + ": memory held by a process slot not in use";
    }
    total += bytes;
  }
  // A dead holder may have changed a slot but not the total: recount, as every locker does.
  if (lock.owner_died()) gpu.memory_used = total;
  if (gpu.memory_used != total) {
    return "GPU " + std::to_string(index) + ": " + std::to_string(gpu.memory_used) +
           " bytes in use, but its processes hold " + std::to_string(total);
  }
  return "";
}

}  // namespace

GpuSpec ReadFacts(const GpuFacts& facts) {
  GpuSpec gpu;
  gpu.model = ReadText(facts.model);
  gpu.name = ReadText(facts.name);
  gpu.uuid = ReadText(facts.uuid);
  gpu.pci_bus_id = ReadText(facts.pci_bus_id);
  gpu.memory_bytes = facts.memory_bytes;
  gpu.minor = facts.minor;
  gpu.numa_node = facts.numa_node;
  gpu.pci_device_id = facts.pci_device_id;
  gpu.pci_subsystem_id = facts.pci_subsystem_id;
  gpu.cc_major = facts.cc_major;
  gpu.cc_minor = facts.cc_minor;
  gpu.sm_count = facts.sm_count;
  gpu.clock_khz = facts.clock_khz;
  gpu.memory_clock_khz = facts.memory_clock_khz;
  gpu.memory_bus_width = facts.memory_bus_width;
  gpu.l2_cache_bytes = facts.l2_cache_bytes;
  gpu.max_threads_per_sm = facts.max_threads_per_sm;
  gpu.shared_memory_per_sm = facts.shared_memory_per_sm;
  gpu.shared_memory_per_block_optin = facts.shared_memory_per_block_optin;
  gpu.kernel_duration_ns = facts.kernel_duration_ns;
  gpu.context_memory_bytes = facts.context_memory_bytes;
  gpu.module_memory_bytes = facts.module_memory_bytes;
  gpu.kernel_local_memory_bytes = facts.kernel_local_memory_bytes;
  gpu.launch_queue_depth = facts.launch_queue_depth;
  gpu.mig_mode = facts.mig_mode != 0;
  return gpu;
}

Status CheckStateFile(StateFile* file, const std::string& path,
                      std::chrono::nanoseconds lock_wait) {
  if (std::memcmp(file->magic, kMagic, sizeof(file->magic)) != 0) {
    return Status::FailedPrecondition("'" + path + "' is not a gpuslice simulated-GPU state file");
  }
  if (file->layout_version != kLayoutVersion || file->file_size != sizeof(StateFile)) {
    return Status::FailedPrecondition(
        "state file '" + path + "' has layout version " + std::to_string(file->layout_version) +
        "; this build uses version " + std::to_string(kLayoutVersion) +
        ": delete the file or point GPUSLICE_SIM_STATE elsewhere");
  }
  auto corrupt = [&](const std::string& what) {
    return Status::FailedPrecondition("state file '" + path + "' is corrupt: " + what +
                                      " (delete it and create the node again)");
  };
  if (file->gpu_count == 0 || file->gpu_count > static_cast<uint32_t>(kMaxGpus)) {
    return corrupt(std::to_string(file->gpu_count) + " GPUs");
  }
  if (std::string problem = LockFreeProblem(*file, lock_wait); !problem.empty()) {
    return corrupt(problem);
  }
  for (uint32_t i = 0; i < file->gpu_count; ++i) {
    if (std::string problem = MemoryProblem(*file, i); !problem.empty()) return corrupt(problem);
  }
  return Status::Ok();
}

}  // namespace gpuslice::sim::internal
