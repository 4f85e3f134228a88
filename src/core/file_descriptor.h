// An owned file descriptor, closed on every return path. Header-only, with no allocation and
// no library beyond libc, so libgpuslice.so uses it as freely as the node agent.
#pragma once

#include <unistd.h>

namespace gpuslice::core {

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  // -1 when the open it was given failed.
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace gpuslice::core
