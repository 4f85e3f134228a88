#include "preload/internal/region_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>
#include <utility>

#include "core/file_descriptor.h"

namespace gpuslice::preload::internal {
namespace {

using core::FileDescriptor;
using core::region::kRegionSize;
using core::region::Region;

std::string OsError(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

// An exclusive open-file-description lock on a whole file: owned by the descriptor, not the
// process, so two threads' locks never merge; the kernel drops it when the holder dies. A
// mapping keeps the description open, so the lock is released explicitly.
class FileLock {
 public:
  explicit FileLock(int fd) : fd_(fd) {
    struct flock lock {};
    lock.l_type = F_WRLCK;
    lock.l_whence = SEEK_SET;
    while (fcntl(fd_, F_OFD_SETLKW, &lock) != 0) {
      if (errno != EINTR) return;
    }
    locked_ = true;
  }
  ~FileLock() {
    if (!locked_) return;
    struct flock unlock {};
    unlock.l_type = F_UNLCK;
    unlock.l_whence = SEEK_SET;
    fcntl(fd_, F_OFD_SETLK, &unlock);
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  bool locked() const { return locked_; }

 private:
  int fd_;
  bool locked_ = false;
};

bool HasCurrentMagic(const void* data) {
  core::region::Header header;
  std::memcpy(&header, data, sizeof(header));
  return header.magic == core::region::kMagic;
}

}  // namespace

void LayOut(void* memory) {
  auto* region = new (memory) Region();
  pthread_mutexattr_t attributes;
  pthread_mutexattr_init(&attributes);
  pthread_mutexattr_setpshared(&attributes, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&attributes, PTHREAD_MUTEX_ROBUST);
  for (core::region::DeviceState& device : region->devices) {
    pthread_mutex_init(&device.memory_mutex, &attributes);
  }
  pthread_mutexattr_destroy(&attributes);
  const core::region::Header header = core::region::CurrentHeader();
  std::memcpy(&region->header, &header, sizeof(header));
  std::atomic_thread_fence(std::memory_order_release);
}

Result<RegionMapping> RegionMapping::MapShared(const std::string& path) {
  FileDescriptor fd(open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) return Status::NotFound(OsError("cannot open region", path));
    return Status::FailedPrecondition(OsError("cannot open region", path));
  }
  FileLock lock(fd.get());
  if (!lock.locked()) return Status::FailedPrecondition(OsError("cannot lock region", path));

  // The size by lseek, not fstat: fstat is a GLIBC_2.33 symbol, too new for many images.
  const off_t end = lseek(fd.get(), 0, SEEK_END);
  if (end < 0) return Status::FailedPrecondition(OsError("cannot size region", path));
  const auto size = static_cast<size_t>(end);
  if (size != 0 && size < sizeof(core::region::Header)) {
    return Status::FailedPrecondition("region " + path + " is " + std::to_string(size) +
                                      " bytes: not a gpuslice region");
  }

  bool lay_out = size == 0;
  if (!lay_out) {
    void* header = mmap(nullptr, sizeof(core::region::Header), PROT_READ, MAP_SHARED, fd.get(), 0);
    if (header == MAP_FAILED) return Status::FailedPrecondition(OsError("cannot map region", path));
    // No magic with a plausible size means a first user died before writing the header
    // (written last): nobody can have used the layout yet, so it is laid out again.
    lay_out = !HasCurrentMagic(header) && size == kRegionSize;
    if (!lay_out) {
      Status status = core::region::CheckLayout(header, size);
      munmap(header, sizeof(core::region::Header));
      GPUSLICE_RETURN_IF_ERROR(status.WithContext("region " + path));
    } else {
      munmap(header, sizeof(core::region::Header));
    }
  }
  if (lay_out) {
    if (ftruncate(fd.get(), 0) != 0 || ftruncate(fd.get(), kRegionSize) != 0) {
      return Status::FailedPrecondition(OsError("cannot size region", path));
    }
  }
  void* memory = mmap(nullptr, kRegionSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  if (memory == MAP_FAILED) return Status::FailedPrecondition(OsError("cannot map region", path));
  if (lay_out) LayOut(memory);
  return RegionMapping(static_cast<Region*>(memory));
}

Result<RegionMapping> RegionMapping::MapPrivate() {
  void* memory =
      mmap(nullptr, kRegionSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) {
    return Status::FailedPrecondition(std::string("cannot map private region: ") +
                                      std::strerror(errno));
  }
  LayOut(memory);
  return RegionMapping(static_cast<Region*>(memory));
}

RegionMapping::RegionMapping(RegionMapping&& other) noexcept
    : region_(std::exchange(other.region_, nullptr)) {}

RegionMapping& RegionMapping::operator=(RegionMapping&& other) noexcept {
  if (this != &other) {
    if (region_ != nullptr) munmap(region_, kRegionSize);
    region_ = std::exchange(other.region_, nullptr);
  }
  return *this;
}

RegionMapping::~RegionMapping() {
  if (region_ != nullptr) munmap(region_, kRegionSize);
}

}  // namespace gpuslice::preload::internal
