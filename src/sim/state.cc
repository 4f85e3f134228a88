#include "sim/state.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <new>

#include "sim/internal/clock.h"
#include "sim/internal/futex.h"
#include "sim/internal/layout.h"
#include "sim/internal/slot_lock.h"

namespace gpuslice::sim {
namespace {

using internal::StateFile;

constexpr size_t kFileSize = sizeof(StateFile);

std::string Errno(const std::string& what, const std::string& path) {
  return what + " '" + path + "': " + std::strerror(errno);
}

template <size_t N>
void CopyText(char (&field)[N], std::string_view text) {
  const size_t length = std::min(text.size(), N - 1);
  std::memcpy(field, text.data(), length);
  field[length] = '\0';
}

template <size_t N>
std::string ReadText(const char (&field)[N]) {
  return std::string(field, strnlen(field, N));
}

// Lays out a fresh state in `file` (zeroed memory of kFileSize bytes) for `spec`.
void Initialize(StateFile* file, const SimSpec& spec, std::string_view spec_text) {
  new (file) StateFile();
  std::memcpy(file->magic, internal::kMagic, sizeof(file->magic));
  file->layout_version = internal::kLayoutVersion;
  file->gpu_count = static_cast<uint32_t>(spec.gpus.size());
  file->file_size = kFileSize;
  file->cuda_version = spec.cuda_version;
  CopyText(file->driver_version, spec.driver_version);
  CopyText(file->spec, spec_text);
  file->created_ns = internal::RealtimeNs();
  const uint64_t now = internal::MonotonicNs();
  for (size_t i = 0; i < spec.gpus.size(); ++i) {
    const GpuSpec& gpu = spec.gpus[i];
    internal::GpuState& state = file->gpus[i];
    internal::GpuFacts& facts = state.facts;
    CopyText(facts.model, gpu.model);
    CopyText(facts.name, gpu.name);
    CopyText(facts.uuid, gpu.uuid);
    CopyText(facts.pci_bus_id, gpu.pci_bus_id);
    facts.memory_bytes = gpu.memory_bytes;
    facts.minor = gpu.minor;
    facts.numa_node = gpu.numa_node;
    facts.pci_device_id = gpu.pci_device_id;
    facts.pci_subsystem_id = gpu.pci_subsystem_id;
    facts.cc_major = gpu.cc_major;
    facts.cc_minor = gpu.cc_minor;
    facts.sm_count = gpu.sm_count;
    facts.clock_khz = gpu.clock_khz;
    facts.memory_clock_khz = gpu.memory_clock_khz;
    facts.memory_bus_width = gpu.memory_bus_width;
    facts.l2_cache_bytes = gpu.l2_cache_bytes;
    facts.max_threads_per_sm = gpu.max_threads_per_sm;
    facts.shared_memory_per_sm = gpu.shared_memory_per_sm;
    facts.shared_memory_per_block_optin = gpu.shared_memory_per_block_optin;
    facts.kernel_duration_ns = gpu.kernel_duration_ns;
    facts.context_memory_bytes = gpu.context_memory_bytes;
    facts.launch_queue_depth = gpu.launch_queue_depth;
    state.memory_lock.Init();
    state.timeline_lock.Init();
    state.event_lock.Init();
    state.busy_until_ns = now;
    state.snapshots[0] = {now, 0};
    state.next_snapshot = 1;
  }
  file->ready.store(1, std::memory_order_release);
}

bool HasMagic(const StateFile* file) {
  return std::memcmp(file->magic, internal::kMagic, sizeof(file->magic)) == 0;
}

Result<StateFile*> Map(int fd, const std::string& path) {
  void* address = mmap(nullptr, kFileSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (address == MAP_FAILED) return Status::Internal(Errno("cannot map state file", path));
  return static_cast<StateFile*>(address);
}

// Checks a mapped, complete file. Never trusts a file of another layout.
Status Check(const StateFile* file, const std::string& path) {
  if (!HasMagic(file)) {
    return Status::FailedPrecondition("'" + path + "' is not a gpuslice simulated-GPU state file");
  }
  if (file->layout_version != internal::kLayoutVersion || file->file_size != kFileSize) {
    return Status::FailedPrecondition(
        "state file '" + path + "' has layout version " + std::to_string(file->layout_version) +
        "; this build uses version " + std::to_string(internal::kLayoutVersion) +
        ": delete the file or point GPUSLICE_SIM_STATE elsewhere");
  }
  if (file->gpu_count == 0 || file->gpu_count > static_cast<uint32_t>(kMaxGpus)) {
    return Status::FailedPrecondition("state file '" + path +
                                      "' is corrupt: " + std::to_string(file->gpu_count) + " GPUs");
  }
  return Status::Ok();
}

class FileLock {
 public:
  explicit FileLock(int fd) : fd_(fd) {
    while (flock(fd_, LOCK_EX) != 0 && errno == EINTR) {
    }
  }
  ~FileLock() { flock(fd_, LOCK_UN); }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_;
};

uint64_t BusyElapsed(const internal::GpuState& gpu, uint64_t now) {
  const uint64_t pending = gpu.busy_until_ns > now ? gpu.busy_until_ns - now : 0;
  return gpu.busy_scheduled_ns > pending ? gpu.busy_scheduled_ns - pending : 0;
}

}  // namespace

SimState::SimState(std::string path, StateFile* file, int probe_fd)
    : path_(std::move(path)), file_(file), probe_fd_(probe_fd) {
  LoadFacts();
}

SimState::~SimState() {
  munmap(file_, kFileSize);
  close(probe_fd_);
}

void SimState::LoadFacts() {
  driver_version_ = ReadText(file_->driver_version);
  cuda_version_ = file_->cuda_version;
  spec_text_ = ReadText(file_->spec);
  for (uint32_t i = 0; i < file_->gpu_count; ++i) {
    const internal::GpuFacts& facts = file_->gpus[i].facts;
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
    gpu.launch_queue_depth = facts.launch_queue_depth;
    gpus_.push_back(std::move(gpu));
  }
}

Result<std::unique_ptr<SimState>> SimState::Create(const std::string& path, const SimSpec& spec,
                                                   std::string_view spec_text, bool replace) {
  GPUSLICE_RETURN_IF_ERROR(ValidateSpec(spec));
  struct stat existing;
  if (!replace && stat(path.c_str(), &existing) == 0 && existing.st_size > 0) {
    return Status::AlreadyExists("state file '" + path +
                                 "' exists; remove it or replace it explicitly");
  }
  // Built under a temporary name and renamed into place, so nobody sees a half-written file.
  std::string temp = path + ".XXXXXX";
  const int fd = mkostemp(temp.data(), O_CLOEXEC);
  if (fd < 0) return Status::Internal(Errno("cannot create state file next to", path));
  auto fail = [&](Status status) {
    close(fd);
    unlink(temp.c_str());
    return status;
  };
  if (fchmod(fd, 0666) != 0 || ftruncate(fd, static_cast<off_t>(kFileSize)) != 0) {
    return fail(Status::Internal(Errno("cannot size state file", temp)));
  }
  Result<StateFile*> file = Map(fd, temp);
  if (!file.ok()) return fail(file.status());
  Initialize(*file, spec, spec_text);
  munmap(*file, kFileSize);
  close(fd);
  if (rename(temp.c_str(), path.c_str()) != 0) {
    const Status status = Status::Internal(Errno("cannot install state file", path));
    unlink(temp.c_str());
    return status;
  }
  return Open(path);
}

Result<std::unique_ptr<SimState>> SimState::Open(const std::string& path) {
  const int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Status::NotFound("state file '" + path + "' does not exist");
    return Status::Unavailable(Errno("cannot open state file", path));
  }
  struct stat info;
  if (fstat(fd, &info) != 0 || info.st_size == 0) {
    close(fd);
    return Status::NotFound("state file '" + path + "' is empty");
  }
  if (static_cast<size_t>(info.st_size) < sizeof(internal::kMagic) + 8 ||
      static_cast<size_t>(info.st_size) != kFileSize) {
    close(fd);
    return Status::FailedPrecondition(
        "'" + path + "' is not a state file of this gpuslice version (size " +
        std::to_string(info.st_size) + ", expected " + std::to_string(kFileSize) + ")");
  }
  Result<StateFile*> file = Map(fd, path);
  if (!file.ok()) {
    close(fd);
    return file.status();
  }
  Status valid = Check(*file, path);
  if (valid.ok() && (*file)->ready.load(std::memory_order_acquire) == 0) {
    valid = Status::Unavailable("state file '" + path + "' is still being created");
  }
  if (!valid.ok()) {
    munmap(*file, kFileSize);
    close(fd);
    return valid;
  }
  return std::unique_ptr<SimState>(new SimState(path, *file, fd));
}

Result<std::unique_ptr<SimState>> SimState::OpenOrCreate(const std::string& path,
                                                         std::string_view spec_text,
                                                         const SpecSource& spec_source) {
  Result<std::unique_ptr<SimState>> opened = Open(path);
  if (opened.ok() || (opened.status().code() != StatusCode::kNotFound &&
                      opened.status().code() != StatusCode::kUnavailable)) {
    return opened;
  }
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (fd < 0) return Status::Unavailable(Errno("cannot create state file", path));
  {
    FileLock lock(fd);
    struct stat info;
    if (fstat(fd, &info) != 0) {
      close(fd);
      return Status::Internal(Errno("cannot stat state file", path));
    }
    bool create = info.st_size == 0;
    if (static_cast<size_t>(info.st_size) == kFileSize) {
      // Complete, or left half-written by a creator that died (it held the lock we now hold).
      Result<StateFile*> file = Map(fd, path);
      if (!file.ok()) {
        close(fd);
        return file.status();
      }
      create = (*file)->ready.load(std::memory_order_acquire) == 0;
      if (create && HasMagic(*file) && (*file)->layout_version != internal::kLayoutVersion) {
        create = false;  // another layout: Open below reports it
      }
      munmap(*file, kFileSize);
    }
    if (create) {
      Result<SimSpec> spec = spec_source();
      if (!spec.ok()) {
        close(fd);
        return spec.status();
      }
      Status valid = ValidateSpec(*spec);
      if (valid.ok() && (fchmod(fd, 0666) != 0 || ftruncate(fd, 0) != 0 ||
                         ftruncate(fd, static_cast<off_t>(kFileSize)) != 0)) {
        valid = Status::Internal(Errno("cannot size state file", path));
      }
      if (!valid.ok()) {
        close(fd);
        return valid;
      }
      Result<StateFile*> file = Map(fd, path);
      if (!file.ok()) {
        close(fd);
        return file.status();
      }
      Initialize(*file, *spec, spec_text);
      munmap(*file, kFileSize);
    }
  }
  close(fd);
  return Open(path);
}

Status SimState::InjectXid(int index, uint64_t xid) {
  if (index < 0 || index >= gpu_count()) {
    return Status::InvalidArgument("no simulated GPU " + std::to_string(index));
  }
  internal::GpuState& gpu = file_->gpus[index];
  {
    internal::RobustLock lock(gpu.event_lock);
    // A dead owner may have left one entry half-written; its sequence was not published, and
    // the entry's own sequence is rewritten below, so nothing needs repair.
    const uint64_t sequence = gpu.xid_published.load(std::memory_order_relaxed) + 1;
    internal::XidRecord& record = gpu.xids[sequence % internal::kXidRingSize];
    record.sequence.store(0, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    record.xid.store(xid, std::memory_order_relaxed);
    record.time_ns.store(internal::RealtimeNs(), std::memory_order_relaxed);
    record.sequence.store(sequence, std::memory_order_release);
    gpu.xid_published.store(sequence, std::memory_order_release);
  }
  file_->event_epoch.fetch_add(1, std::memory_order_acq_rel);
  internal::FutexWakeAll(&file_->event_epoch);
  return Status::Ok();
}

Status SimState::SetLost(int index, bool lost) {
  if (index < 0 || index >= gpu_count()) {
    return Status::InvalidArgument("no simulated GPU " + std::to_string(index));
  }
  file_->gpus[index].lost.store(lost ? 1 : 0, std::memory_order_release);
  file_->event_epoch.fetch_add(1, std::memory_order_acq_rel);
  internal::FutexWakeAll(&file_->event_epoch);
  return Status::Ok();
}

bool SimState::IsLost(int index) const {
  return file_->gpus[index].lost.load(std::memory_order_acquire) != 0;
}

uint64_t SimState::LatestXidSequence(int index) const {
  return file_->gpus[index].xid_published.load(std::memory_order_acquire);
}

std::optional<XidEvent> SimState::ReadXid(int index, uint64_t sequence) const {
  const internal::XidRecord& record = file_->gpus[index].xids[sequence % internal::kXidRingSize];
  if (record.sequence.load(std::memory_order_acquire) != sequence) return std::nullopt;
  XidEvent event{sequence, record.xid.load(std::memory_order_relaxed),
                 record.time_ns.load(std::memory_order_relaxed)};
  std::atomic_thread_fence(std::memory_order_acquire);
  if (record.sequence.load(std::memory_order_relaxed) != sequence) return std::nullopt;
  return event;
}

uint32_t SimState::EventEpoch() const { return file_->event_epoch.load(std::memory_order_acquire); }

void SimState::WaitForEvent(uint32_t seen_epoch, int64_t timeout_ns) const {
  internal::FutexWait(&file_->event_epoch, seen_epoch, timeout_ns);
}

void SimState::ReclaimSlot(int slot) {
  internal::ProcessSlot& process = file_->slots[slot];
  for (int i = 0; i < gpu_count(); ++i) {
    internal::GpuState& gpu = file_->gpus[i];
    internal::RobustLock lock(gpu.memory_lock);
    const uint64_t bytes = process.memory[i].load(std::memory_order_relaxed);
    gpu.memory_used = gpu.memory_used > bytes ? gpu.memory_used - bytes : 0;
    process.memory[i].store(0, std::memory_order_relaxed);
    process.contexts[i].store(0, std::memory_order_relaxed);
  }
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
    ProcessUsage usage;
    usage.pid = process.pid.load(std::memory_order_relaxed);
    usage.command = ReadText(process.command);
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
