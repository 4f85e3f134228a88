#include "preload/internal/process.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace gpuslice::preload::internal {
namespace {

constexpr ProcessProbe kUnknown{ProcessProbe::State::kUnknown, 0};
constexpr ProcessProbe kGone{ProcessProbe::State::kGone, 0};

// ENOENT: no /proc entry for the PID. ESRCH: the process went away after the open.
ProcessProbe FromError(int error) { return error == ENOENT || error == ESRCH ? kGone : kUnknown; }

}  // namespace

ProcessProbe ProbeProcess(pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/%d/stat", static_cast<int>(pid));
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return FromError(errno);
  char text[1024];
  const ssize_t length = read(fd, text, sizeof(text) - 1);
  const int read_error = errno;
  close(fd);
  if (length < 0) return FromError(read_error);
  text[length] = '\0';
  // Anything short of a well-formed line is a read that went wrong, not a process that is gone.
  // The command name (field 2) may hold spaces and parentheses: fields resume after the last ')'.
  const char* cursor = std::strrchr(text, ')');
  if (cursor == nullptr || cursor[1] != ' ') return kUnknown;
  cursor += 2;
  if (*cursor == 'Z' || *cursor == 'X') return kGone;  // field 3: state
  for (int field = 3; field < 22; ++field) {
    cursor = std::strchr(cursor, ' ');
    if (cursor == nullptr) return kUnknown;
    ++cursor;
  }
  char* end = nullptr;
  const uint64_t start_time = std::strtoull(cursor, &end, 10);
  if (end == cursor) return kUnknown;
  return {ProcessProbe::State::kRunning, start_time};
}

}  // namespace gpuslice::preload::internal
