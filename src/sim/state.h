// The state of a simulated node, shared by every process that uses its GPUs: the simulated
// NVML, the simulated CUDA driver, the gpuslice CLI and tests all map the same state file.
// It holds the GPUs' facts, their health and XID events, the memory each process uses on
// each GPU and the kernel time each process queued.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "sim/spec.h"

namespace gpuslice::sim {

namespace internal {
struct StateFile;
}  // namespace internal

struct XidEvent {
  uint64_t sequence = 0;  // 1-based, per GPU
  uint64_t xid = 0;
  uint64_t time_ns = 0;  // CLOCK_REALTIME
};

// One process that used a GPU, from its slot in the state.
struct ProcessUsage {
  int pid = 0;
  std::string command;   // the process's comm name
  bool running = false;  // false once it exited (its memory is then already given back)
  uint64_t memory_bytes = 0;
  uint64_t busy_ns = 0;  // kernel time it queued on the GPU
  uint32_t contexts = 0;
};

// A process's share of a GPU over the sampling period that ended at time_us, as
// nvmlDeviceGetProcessUtilization reports it.
struct ProcessUtilizationSample {
  int pid = 0;
  uint64_t time_us = 0;      // CLOCK_REALTIME microseconds
  unsigned int sm_util = 0;  // percent of the period its kernels ran
};

struct GpuUsage {
  uint64_t memory_total = 0;
  uint64_t memory_used = 0;
  bool lost = false;
  uint64_t busy_ns = 0;            // kernel time elapsed on the GPU since the state was created
  double utilization_percent = 0;  // share of roughly the last second the GPU was busy
  std::vector<ProcessUsage> processes;  // running and exited processes that used the GPU
};

// Where a process stands in a checkpoint (cuCheckpointProcess*), as CUprocessState says.
enum class CheckpointState { kRunning = 0, kLocked = 1, kCheckpointed = 2 };

// A mapped state file. Thread-safe; every method may be called from any thread, and the
// state stays consistent when any process using it is killed at any instruction.
class SimState {
 public:
  // Produces the spec when a state file has to be created (parsed lazily, so processes that
  // find an existing file need no spec at all).
  using SpecSource = std::function<Result<SimSpec>()>;

  // Creates a state file at `path` (or at the target of a symlink there) for `spec`, only
  // where nothing else lives: nothing, or an empty regular file. AlreadyExists when a
  // non-empty file is there, unless `replace`: then a new file replaces a gpuslice state file
  // atomically (processes that mapped the old one keep using it until they reopen).
  // FailedPrecondition, even with `replace`, for a device, FIFO, socket, directory or a file
  // that is not a state file: those are never replaced.
  static Result<std::unique_ptr<SimState>> Create(const std::string& path, const SimSpec& spec,
                                                  std::string_view spec_text, bool replace);

  // How long a lock in the file may stay held, unchanged, before Open calls the file corrupt.
  static constexpr std::chrono::milliseconds kLockWait{2000};

  // Opens an existing state file after checking all of it (internal/state_check.h). NotFound
  // when missing or empty, FailedPrecondition naming the file when it is not a regular file,
  // not a state file of this layout version, or corrupt.
  static Result<std::unique_ptr<SimState>> Open(const std::string& path,
                                                std::chrono::nanoseconds lock_wait = kLockWait);

  // Opens the state file, or creates it from `spec_source` when it is missing or empty. The
  // creation happens under a file lock, so concurrent first users agree on one state.
  static Result<std::unique_ptr<SimState>> OpenOrCreate(const std::string& path,
                                                        std::string_view spec_text,
                                                        const SpecSource& spec_source);

  ~SimState();
  SimState(const SimState&) = delete;
  SimState& operator=(const SimState&) = delete;

  const std::string& path() const { return path_; }
  int gpu_count() const { return static_cast<int>(gpus_.size()); }
  // REQUIRES: 0 <= index < gpu_count().
  const GpuSpec& gpu(int index) const { return gpus_[static_cast<size_t>(index)]; }
  const std::vector<GpuSpec>& gpus() const { return gpus_; }
  const std::string& driver_version() const { return driver_version_; }
  int cuda_version() const { return cuda_version_; }
  // The spec text the file was created from.
  const std::string& spec_text() const { return spec_text_; }

  // Health. Every change wakes the processes waiting for events.
  // InvalidArgument for an index out of range.
  Status InjectXid(int index, uint64_t xid);
  Status SetLost(int index, bool lost);
  bool IsLost(int index) const;

  // The sequence number of the newest XID on the GPU (0: none yet).
  uint64_t LatestXidSequence(int index) const;
  // The XID with `sequence`, or nullopt when it is not published yet or was overwritten
  // (only the newest 64 per GPU are kept).
  std::optional<XidEvent> ReadXid(int index, uint64_t sequence) const;

  // Event waiting: read the epoch, check for events, then wait while it is unchanged.
  uint32_t EventEpoch() const;
  // Blocks until an XID or health change after `seen_epoch`, at most timeout_ns (< 0: no
  // limit). May return early; callers re-check.
  void WaitForEvent(uint32_t seen_epoch, int64_t timeout_ns) const;

  // Usage. Each of these first reclaims the memory of processes that died.
  uint64_t MemoryUsed(int index);
  GpuUsage Usage(int index);
  // Every process that used any GPU, running or exited, with its totals over all GPUs.
  std::vector<ProcessUsage> Processes();
  // The running processes' utilization samples of GPU `index` newer than `after_us`
  // (CLOCK_REALTIME microseconds), sampling first when the last sampling is at least
  // kProcessSamplePeriodNs old. Every process with a context on the GPU is in every sample,
  // so consecutive samples of a process cover its time without gaps.
  std::vector<ProcessUtilizationSample> ProcessUtilization(int index, uint64_t after_us);
  static constexpr uint64_t kProcessSamplePeriodNs = 50'000'000;
  // Finds processes that died without cleaning up and gives their memory back.
  void ReclaimDeadProcesses();

  // Checkpoints of the running process `pid` (its PID as its slot records it), as another
  // process drives them: Lock (running -> locked), Checkpoint (locked -> checkpointed: its
  // memory leaves the GPUs, so their used memory and NVML's figures for it drop, and NVML no
  // longer lists it), Restore (checkpointed -> locked: the memory comes back onto the same
  // GPUs, all or nothing), Unlock (locked -> running). NotFound when no running process has
  // the PID; FailedPrecondition for a transition its state does not allow; ResourceExhausted
  // when a GPU has no room for what Restore brings back (the process stays checkpointed).
  // The process's own calls are not blocked while it is locked, as the real driver's are.
  Result<CheckpointState> ProcessCheckpointState(int pid);
  Status LockProcess(int pid);
  Status CheckpointProcess(int pid);
  Status RestoreProcess(int pid);
  Status UnlockProcess(int pid);

  // For ProcessAccount and the simulated libraries: the mapped file.
  internal::StateFile* file() const { return file_; }
  // Reclaims slot `slot`, whose owner is known to be dead and whose lock the caller holds.
  void ReclaimSlot(int slot);
  // With GPU `index`'s memory lock just taken from an owner that died holding it: the owner
  // may have changed its slot and not the total (or the reverse), so whoever takes the lock
  // first counts the total again from the slots.
  void RecountMemoryLocked(int index);

 private:
  SimState(std::string path, internal::StateFile* file, int probe_fd);
  void LoadFacts();
  // Processes with any use of GPU `index` (all GPUs when -1), with their use of it.
  std::vector<ProcessUsage> CollectProcesses(int index) const;
  // The slot of the running process `pid`, or -1.
  int LiveSlotOfPid(int pid) const;
  // Moves the running process `pid` from checkpoint state `from` to `to`, moving its memory
  // on every GPU as `move` says first (all or nothing).
  enum class Move { kNone, kToHost, kToGpus };
  Status Transition(int pid, uint32_t from, uint32_t to, Move move);
  // Moves GPU `index`'s memory of `slot` between the GPU and the checkpoint (to_gpu: back
  // onto it, when it fits). Returns false when it does not fit. REQUIRES: the caller holds the
  // GPU's memory lock.
  bool MoveCheckpointedLocked(int slot, int index, bool to_gpu);

  std::string path_;
  internal::StateFile* file_;
  // A descriptor of its own, so probing a slot's lock never sees this process's own locks.
  int probe_fd_;
  std::mutex reclaim_mutex_;  // one reclaim at a time within this process
  std::vector<GpuSpec> gpus_;
  std::string driver_version_;
  int cuda_version_ = 0;
  std::string spec_text_;
};

}  // namespace gpuslice::sim
