// The layout of the shared state file that every process using the simulated GPUs maps:
// the node's GPUs (static facts written once by the creator), their live state (memory in
// use, the kernel timeline, XID events, health) and one slot per process using them.
//
// Everything here is updated with atomics or under RobustMutexes, so a process killed at any
// instruction leaves the state usable: an owner-died lock tells the next locker to repair,
// and a dead process's slot is found through its byte-range lock and reclaimed.
// Bump kLayoutVersion on any change; files of another version are refused, never misread.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "sim/internal/robust_mutex.h"
#include "sim/spec.h"

namespace gpuslice::sim::internal {

inline constexpr char kMagic[8] = {'G', 'P', 'U', 'S', 'L', 'S', 'I', 'M'};
inline constexpr uint32_t kLayoutVersion = 4;
inline constexpr int kMaxProcesses = 1024;
inline constexpr int kXidRingSize = 64;
inline constexpr int kUtilizationSnapshots = 32;
inline constexpr int kProcessSampleRing = 64;
inline constexpr int kProcessesPerSample = 32;
inline constexpr size_t kSpecTextSize = 1024;

// Process slot s is owned by whoever holds the write lock on byte kSlotLockBase + s of the
// state file (an open-file-description lock: released by the kernel when its owner dies,
// and independent of PID namespaces).
inline constexpr off_t kSlotLockBase = off_t{1} << 40;

struct GpuFacts {
  char model[32];
  char name[96];
  char uuid[48];
  char pci_bus_id[32];
  uint64_t memory_bytes;
  int32_t minor;
  int32_t numa_node;
  uint32_t pci_device_id;
  uint32_t pci_subsystem_id;
  int32_t cc_major;
  int32_t cc_minor;
  int32_t sm_count;
  int32_t clock_khz;
  int32_t memory_clock_khz;
  int32_t memory_bus_width;
  int32_t l2_cache_bytes;
  int32_t max_threads_per_sm;
  int32_t shared_memory_per_sm;
  int32_t shared_memory_per_block_optin;
  uint64_t kernel_duration_ns;
  uint64_t context_memory_bytes;
  uint64_t module_memory_bytes;
  uint64_t kernel_local_memory_bytes;
  uint32_t launch_queue_depth;
  uint32_t mig_mode;  // 0 or 1; files written before it existed hold 0 here
};

struct XidRecord {
  std::atomic<uint64_t> sequence;  // 1-based; written last, so a reader can tell a torn entry
  std::atomic<uint64_t> xid;
  std::atomic<uint64_t> time_ns;  // CLOCK_REALTIME
};

struct UtilizationSnapshot {
  uint64_t time_ns;  // CLOCK_MONOTONIC
  uint64_t busy_ns;  // busy time elapsed on the GPU up to time_ns
};

// One sampling of the processes using a GPU: each one's share of the GPU's time since the
// previous sampling, like the samples nvmlDeviceGetProcessUtilization returns.
struct ProcessSampleSet {
  uint64_t time_us;  // CLOCK_REALTIME microseconds
  uint32_t count;
  struct {
    int32_t pid;
    uint32_t sm_util;  // percent
  } entries[kProcessesPerSample];
};

struct alignas(64) GpuState {
  GpuFacts facts;
  std::atomic<uint32_t> lost;

  // Memory: memory_used is the sum of every slot's memory[gpu]; both change together under
  // memory_lock. A locker that finds the owner died recomputes memory_used from the slots.
  RobustMutex memory_lock;
  uint64_t memory_used;

  // The kernel timeline: kernels run one at a time in launch order; busy_until_ns is when
  // the last one queued ends and busy_scheduled_ns the total time of all ever queued.
  RobustMutex timeline_lock;
  uint64_t busy_until_ns;
  uint64_t busy_scheduled_ns;
  uint32_t next_snapshot;
  UtilizationSnapshot snapshots[kUtilizationSnapshots];
  uint64_t last_process_sample_ns;  // CLOCK_MONOTONIC of the newest process sample
  uint32_t next_process_sample;
  ProcessSampleSet process_samples[kProcessSampleRing];

  // XID events: a ring written under event_lock, read lock-free.
  RobustMutex event_lock;
  std::atomic<uint64_t> xid_published;  // sequence of the newest complete entry
  XidRecord xids[kXidRingSize];
};

enum SlotState : uint32_t {
  kSlotFree = 0,
  kSlotLive = 1,    // its owner holds the slot's lock
  kSlotExited = 2,  // owner gone, memory reclaimed; kept so its busy time can be read
};

// A process's checkpoint state (CUprocessState's values), set by whoever checkpoints it.
enum CheckpointState : uint32_t {
  kCheckpointRunning = 0,
  kCheckpointLocked = 1,
  kCheckpointCheckpointed = 2,
};

struct alignas(64) ProcessSlot {
  std::atomic<uint32_t> state;
  std::atomic<int32_t> pid;
  std::atomic<uint64_t> started_ns;  // CLOCK_REALTIME
  std::atomic<uint64_t> ended_ns;
  char command[16];
  std::atomic<uint64_t> memory[kMaxGpus];   // bytes in use; changed under the GPU's memory_lock
  std::atomic<uint64_t> busy_ns[kMaxGpus];  // kernel time this process queued
  std::atomic<uint64_t> tail_ns[kMaxGpus];  // when its last queued kernel ends
  // Its kernel time elapsed as of the GPU's last process sample; under timeline_lock.
  uint64_t sampled_busy_ns[kMaxGpus];
  std::atomic<uint32_t> contexts[kMaxGpus];
  // Version 4 on. Its checkpoint state, changed under gpus[0].memory_lock, and while
  // checkpointed the memory it held on each GPU (now in host memory, off memory[]).
  std::atomic<uint32_t> checkpoint_state;
  std::atomic<uint64_t> checkpointed_memory[kMaxGpus];
};

struct StateFile {
  char magic[8];
  uint32_t layout_version;
  uint32_t gpu_count;
  uint64_t file_size;
  std::atomic<uint32_t> ready;  // set last by the creator
  int32_t cuda_version;
  char driver_version[32];
  char spec[kSpecTextSize];  // the spec the file was created from, for people and warnings
  uint64_t created_ns;       // CLOCK_REALTIME

  // Bumped on every XID or health change; nvmlEventSetWait sleeps on it.
  alignas(64) std::atomic<uint32_t> event_epoch;
  std::atomic<uint32_t> slots_in_use;  // high-water mark of slot indexes ever claimed

  GpuState gpus[kMaxGpus];
  ProcessSlot slots[kMaxProcesses];
};

static_assert(std::is_standard_layout_v<StateFile>);
static_assert(std::atomic<uint64_t>::is_always_lock_free &&
                  std::atomic<uint32_t>::is_always_lock_free,
              "the shared state needs lock-free atomics");

}  // namespace gpuslice::sim::internal
