#include "io/file.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <set>
#include <utility>

#include "core/file_descriptor.h"

namespace gpuslice::io {
namespace {

std::string Reason() { return std::strerror(errno); }

Status TooLarge(const std::string& path, uint64_t max_bytes) {
  return Status::InvalidArgument(path + ": more than the " + std::to_string(max_bytes) +
                                 "-byte limit");
}

// Reads `fd` to its end, refusing more than `max_bytes`.
Result<std::string> ReadAll(int fd, const std::string& path, uint64_t max_bytes,
                            uint64_t expected) {
  std::string text;
  text.reserve(static_cast<size_t>(std::min(expected, max_bytes)));
  char buffer[64 * 1024];
  for (;;) {
    const ssize_t got = read(fd, buffer, sizeof(buffer));
    if (got < 0) {
      if (errno == EINTR) continue;
      return Status::Unavailable(path + ": cannot read: " + Reason());
    }
    if (got == 0) return text;
    if (text.size() + static_cast<uint64_t>(got) > max_bytes) {
      return TooLarge(path, max_bytes);
    }
    text.append(buffer, static_cast<size_t>(got));
  }
}

bool HasExtension(const std::string& name, const std::vector<std::string>& extensions) {
  return std::any_of(extensions.begin(), extensions.end(), [&](const std::string& extension) {
    return name.size() > extension.size() &&
           name.compare(name.size() - extension.size(), extension.size(), extension) == 0;
  });
}

}  // namespace

std::string DescribeFileType(unsigned int mode) {
  if (S_ISREG(mode)) return "a regular file";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISLNK(mode)) return "a symbolic link";
  return "not a regular file";
}

Result<std::string> ReadFile(const std::string& path, uint64_t max_bytes) {
  if (path == kStdinPath) {
    struct stat info;
    if (fstat(STDIN_FILENO, &info) != 0) {
      return Status::Unavailable("standard input: cannot read: " + Reason());
    }
    if (S_ISDIR(info.st_mode)) return Status::InvalidArgument("standard input is a directory");
    return ReadAll(STDIN_FILENO, "standard input", max_bytes, 0);
  }
  // O_NONBLOCK: opening a FIFO must not wait for a writer before it can be refused.
  core::FileDescriptor fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (fd.get() < 0) {
    const std::string message = path + ": cannot open: " + Reason();
    if (errno == ENOENT || errno == ENOTDIR) return Status::NotFound(message);
    if (errno == ELOOP) return Status::InvalidArgument(message + " (a symlink loop?)");
    return Status::InvalidArgument(message);
  }
  struct stat info;
  if (fstat(fd.get(), &info) != 0) return Status::Unavailable(path + ": cannot stat: " + Reason());
  if (!S_ISREG(info.st_mode)) {
    std::string message = path + ": is " + DescribeFileType(info.st_mode) + ", not a regular file";
    if (!S_ISDIR(info.st_mode)) message += " (to read a stream, pass '-' and pipe it in)";
    return Status::InvalidArgument(message);
  }
  const auto size = static_cast<uint64_t>(info.st_size);
  if (size > max_bytes) {
    return Status::InvalidArgument(path + ": " + std::to_string(size) + " bytes is more than the " +
                                   std::to_string(max_bytes) + "-byte limit");
  }
  const int flags = fcntl(fd.get(), F_GETFL);
  if (flags >= 0) fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK);
  return ReadAll(fd.get(), path, max_bytes, size);
}

Result<std::vector<std::string>> ListInputFiles(const std::string& path,
                                                const std::vector<std::string>& extensions) {
  if (path == kStdinPath) return std::vector<std::string>{path};
  struct stat info;
  if (stat(path.c_str(), &info) != 0) {
    if (errno == ELOOP) {
      return Status::InvalidArgument(path + ": " + Reason() + " (a symlink loop)");
    }
    if (errno == ENOENT || errno == ENOTDIR) {
      return Status::NotFound(path + ": no such file or directory");
    }
    return Status::InvalidArgument(path + ": " + Reason());
  }
  if (!S_ISDIR(info.st_mode)) return std::vector<std::string>{path};

  // Directories by device and inode: a symlink back to an ancestor is entered once.
  std::set<std::pair<dev_t, ino_t>> entered{{info.st_dev, info.st_ino}};
  std::vector<std::string> pending{path};
  std::vector<std::string> files;
  while (!pending.empty()) {
    const std::string directory = std::move(pending.back());
    pending.pop_back();
    DIR* handle = opendir(directory.c_str());
    if (handle == nullptr) {
      return Status::InvalidArgument(directory + ": cannot read the directory: " + Reason());
    }
    std::vector<std::string> names;
    errno = 0;
    while (const dirent* entry = readdir(handle)) {
      const std::string name = entry->d_name;
      if (name != "." && name != "..") names.push_back(name);
    }
    const int read_error = errno;
    closedir(handle);
    if (read_error != 0) {
      return Status::InvalidArgument(directory + ": cannot read the directory: " +
                                     std::strerror(read_error));
    }
    for (const std::string& name : names) {
      const std::string child = directory + "/" + name;
      struct stat entry_info;
      if (stat(child.c_str(), &entry_info) != 0) {
        if (errno == ELOOP) {
          return Status::InvalidArgument(child + ": " + Reason() + " (a symlink loop)");
        }
        // A dangling symlink matters only where a manifest was meant to be.
        if (errno == ENOENT && !HasExtension(name, extensions)) continue;
        return Status::InvalidArgument(child + ": " + Reason());
      }
      if (S_ISDIR(entry_info.st_mode)) {
        if (entered.emplace(entry_info.st_dev, entry_info.st_ino).second) {
          pending.push_back(child);
        }
      } else if (HasExtension(name, extensions)) {
        files.push_back(child);
      }
    }
  }
  if (files.empty()) {
    std::string wanted;
    for (const std::string& extension : extensions) {
      wanted += (wanted.empty() ? "" : ", ") + extension;
    }
    return Status::InvalidArgument(path + ": directory holds no " + wanted + " files");
  }
  std::sort(files.begin(), files.end(), [](const std::string& a, const std::string& b) {
    return std::filesystem::path(a) < std::filesystem::path(b);
  });
  return files;
}

Status WriteFile(const std::string& path, std::string_view text) {
  std::string target = path;
  struct stat info;
  if (lstat(path.c_str(), &info) == 0 && S_ISLNK(info.st_mode)) {
    char* resolved = realpath(path.c_str(), nullptr);
    if (resolved == nullptr) {
      return Status::InvalidArgument(path + ": a symbolic link that cannot be followed: " +
                                     Reason());
    }
    target = resolved;
    std::free(resolved);
  }
  if (stat(target.c_str(), &info) == 0) {
    if (!S_ISREG(info.st_mode)) {
      return Status::InvalidArgument(path + ": is " + DescribeFileType(info.st_mode) +
                                     "; only a regular file is replaced");
    }
  } else if (errno != ENOENT) {
    return Status::Unavailable(path + ": cannot write: " + Reason());
  }
  static std::atomic<uint64_t> counter{0};
  const std::string temp = target + ".tmp-" + std::to_string(getpid()) + "-" +
                           std::to_string(counter.fetch_add(1));
  // The kernel applies the umask to 0666, as for any file a command creates.
  const int fd = open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0) return Status::Unavailable(path + ": cannot write: " + Reason());
  Status status;
  size_t written = 0;
  while (written < text.size() && status.ok()) {
    const ssize_t n = write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) status = Status::Unavailable(path + ": cannot write: " + Reason());
    if (n > 0) written += static_cast<size_t>(n);
  }
  if (close(fd) != 0 && status.ok()) {
    status = Status::Unavailable(path + ": cannot write: " + Reason());
  }
  if (status.ok() && rename(temp.c_str(), target.c_str()) != 0) {
    status = Status::Unavailable(path + ": cannot replace: " + Reason());
  }
  if (!status.ok()) unlink(temp.c_str());
  return status;
}

}  // namespace gpuslice::io
