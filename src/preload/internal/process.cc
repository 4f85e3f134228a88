#include "preload/internal/process.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace gpuslice::preload::internal {

uint64_t ProcessStartTime(pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/%d/stat", static_cast<int>(pid));
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char text[1024];
  ssize_t length = read(fd, text, sizeof(text) - 1);
  close(fd);
  if (length <= 0) return 0;
  text[length] = '\0';
  // The command name (field 2) may hold spaces and parentheses: fields resume after the last ')'.
  const char* cursor = std::strrchr(text, ')');
  if (cursor == nullptr || cursor[1] != ' ') return 0;
  cursor += 2;
  if (*cursor == 'Z' || *cursor == 'X') return 0;  // field 3: state
  for (int field = 3; field < 22; ++field) {
    cursor = std::strchr(cursor, ' ');
    if (cursor == nullptr) return 0;
    ++cursor;
  }
  return std::strtoull(cursor, nullptr, 10);
}

}  // namespace gpuslice::preload::internal
