#include "sim/state.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#include "io/file.h"
#include "sim/internal/clock.h"
#include "sim/internal/futex.h"
#include "sim/internal/layout.h"
#include "sim/internal/state_check.h"

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
    facts.module_memory_bytes = gpu.module_memory_bytes;
    facts.kernel_local_memory_bytes = gpu.kernel_local_memory_bytes;
    facts.launch_queue_depth = gpu.launch_queue_depth;
    facts.mig_mode = gpu.mig_mode ? 1 : 0;
    state.memory_lock.Init();
    state.timeline_lock.Init();
    state.event_lock.Init();
    state.busy_until_ns = now;
    state.snapshots[0] = {now, 0};
    state.next_snapshot = 1;
    state.last_process_sample_ns = now;
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

static_assert(offsetof(StateFile, layout_version) == sizeof(StateFile::magic),
              "every layout starts with the magic and its version");

// True for a gpuslice state file of another layout version.
bool IsOtherLayout(const std::string& path) {
  struct Header {
    char magic[8];
    uint32_t layout_version;
  } header{};
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return false;
  struct stat info;
  const bool read_all = fstat(fd, &info) == 0 && S_ISREG(info.st_mode) &&
                        read(fd, &header, sizeof(header)) == static_cast<ssize_t>(sizeof(header));
  close(fd);
  return read_all && std::memcmp(header.magic, internal::kMagic, sizeof(header.magic)) == 0 &&
         header.layout_version != internal::kLayoutVersion;
}

// Where a state file for `path` may be created: the path itself, or the target of a symlink
// there. Only where nothing lives (nothing there, or an empty regular file such as the device
// plugin or mktemp leaves) or, when `replace`, over a gpuslice state file of any version.
// Never over a device, FIFO, socket or directory, nor over a file it cannot tell is its own.
Result<std::string> PlaceForState(const std::string& path, bool replace) {
  std::string target = path;
  struct stat info;
  if (lstat(path.c_str(), &info) == 0 && S_ISLNK(info.st_mode)) {
    char* resolved = realpath(path.c_str(), nullptr);
    if (resolved == nullptr) {
      return Status::FailedPrecondition(Errno("cannot follow the symbolic link", path));
    }
    target = resolved;
    std::free(resolved);
  }
  if (stat(target.c_str(), &info) != 0) {
    if (errno == ENOENT) return target;
    return Status::Unavailable(Errno("cannot inspect", path));
  }
  if (!S_ISREG(info.st_mode)) {
    return Status::FailedPrecondition("'" + path + "' is " + io::DescribeFileType(info.st_mode) +
                                      ", not a state file: gpuslice never replaces it");
  }
  if (info.st_size == 0) return target;
  if (!replace) return Status::AlreadyExists("state file '" + path + "' already exists");
  char magic[sizeof(internal::kMagic)] = {};
  const int fd = open(target.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  const bool is_state = fd >= 0 && read(fd, magic, sizeof(magic)) == sizeof(magic) &&
                        std::memcmp(magic, internal::kMagic, sizeof(magic)) == 0;
  if (fd >= 0) close(fd);
  if (!is_state) {
    return Status::FailedPrecondition("'" + path +
                                      "' is not a gpuslice simulated-GPU state file: only a state "
                                      "file is replaced");
  }
  return target;
}

// Refuses anything but a regular file at `path` before opening it, so opening never blocks on a
// FIFO or touches a device.
Status ExpectRegularFile(const std::string& path) {
  struct stat info;
  if (stat(path.c_str(), &info) != 0) {
    if (errno == ENOENT) return Status::NotFound("state file '" + path + "' does not exist");
    return Status::Unavailable(Errno("cannot open state file", path));
  }
  if (!S_ISREG(info.st_mode)) {
    return Status::FailedPrecondition("'" + path + "' is " + io::DescribeFileType(info.st_mode) +
                                      ", not a state file");
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
    gpus_.push_back(internal::ReadFacts(file_->gpus[i].facts));
  }
}

Result<std::unique_ptr<SimState>> SimState::Create(const std::string& path, const SimSpec& spec,
                                                   std::string_view spec_text, bool replace) {
  GPUSLICE_RETURN_IF_ERROR(ValidateSpec(spec));
  Result<std::string> target = PlaceForState(path, replace);
  if (!target.ok()) return target.status();
  // Built under a temporary name and renamed into place, so nobody sees a half-written file.
  std::string temp = *target + ".XXXXXX";
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
  if (rename(temp.c_str(), target->c_str()) != 0) {
    const Status status = Status::Internal(Errno("cannot install state file", path));
    unlink(temp.c_str());
    return status;
  }
  return Open(path);
}

Result<std::unique_ptr<SimState>> SimState::Open(const std::string& path,
                                                 std::chrono::nanoseconds lock_wait) {
  GPUSLICE_RETURN_IF_ERROR(ExpectRegularFile(path));
  const int fd = open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    if (errno == ENOENT) return Status::NotFound("state file '" + path + "' does not exist");
    return Status::Unavailable(Errno("cannot open state file", path));
  }
  struct stat info;
  if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    close(fd);
    return Status::FailedPrecondition("'" + path + "' is not a regular file");
  }
  if (info.st_size == 0) {
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
  if ((*file)->ready.load(std::memory_order_acquire) == 0) {
    // A creator holds the file lock until the state is complete: wait for it to finish (or
    // die) before judging what the file is.
    while (flock(fd, LOCK_SH) != 0 && errno == EINTR) {
    }
    flock(fd, LOCK_UN);
  }
  Status valid;
  if (HasMagic(*file) && (*file)->layout_version == internal::kLayoutVersion &&
      (*file)->ready.load(std::memory_order_acquire) == 0) {
    valid = Status::Unavailable("state file '" + path + "' was left half-written");
  } else {
    valid = internal::CheckStateFile(*file, path, lock_wait);
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
  if (opened.ok()) return opened;
  if (IsOtherLayout(path)) {
    // Left by another gpuslice version: replaced (atomically, so processes of that version
    // keep the file they mapped), since this build cannot use it.
    Result<SimSpec> spec = spec_source();
    if (!spec.ok()) return opened.status();
    return Create(path, *spec, spec_text, /*replace=*/true);
  }
  if (opened.status().code() != StatusCode::kNotFound &&
      opened.status().code() != StatusCode::kUnavailable) {
    return opened;
  }
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0666);
  if (fd < 0) return Status::Unavailable(Errno("cannot create state file", path));
  {
    FileLock lock(fd);
    struct stat info;
    if (fstat(fd, &info) != 0) {
      close(fd);
      return Status::Internal(Errno("cannot stat state file", path));
    }
    if (!S_ISREG(info.st_mode)) {
      close(fd);
      return Status::FailedPrecondition("'" + path + "' is " +
                                        io::DescribeFileType(info.st_mode) + ", not a state file");
    }
    bool create = info.st_size == 0;
    if (static_cast<size_t>(info.st_size) == kFileSize) {
      // Complete, or left half-written by a creator that died (it held the lock we now hold).
      Result<StateFile*> file = Map(fd, path);
      if (!file.ok()) {
        close(fd);
        return file.status();
      }
      // Only our own half-written state is redone; anything else Open below reports.
      create = (*file)->ready.load(std::memory_order_acquire) == 0 && HasMagic(*file) &&
               (*file)->layout_version == internal::kLayoutVersion;
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

}  // namespace gpuslice::sim
