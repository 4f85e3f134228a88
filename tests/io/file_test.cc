#include "io/file.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "fakes/temp_dir.h"

namespace gpuslice::io {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Replaces standard input with a pipe holding `bytes` for the life of the object.
class StdinFromPipe {
 public:
  explicit StdinFromPipe(const std::string& bytes) {
    int fds[2];
    EXPECT_EQ(pipe(fds), 0);
    saved_ = dup(STDIN_FILENO);
    dup2(fds[0], STDIN_FILENO);
    close(fds[0]);
    EXPECT_EQ(write(fds[1], bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    close(fds[1]);
  }
  ~StdinFromPipe() {
    dup2(saved_, STDIN_FILENO);
    close(saved_);
  }

 private:
  int saved_;
};

TEST(ReadFile, ReturnsTheBytesExactly) {
  testing::TempDir dir;
  const std::string bytes("line one\nline two\r\n\0binary", 26);
  std::ofstream(dir.Sub("f"), std::ios::binary) << bytes;
  Result<std::string> read = ReadFile(dir.Sub("f"));
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(*read, bytes);
  std::ofstream(dir.Sub("empty"));
  EXPECT_EQ(*ReadFile(dir.Sub("empty")), "");
}

TEST(ReadFile, NamesThePathAndTheReason) {
  testing::TempDir dir;
  Result<std::string> missing = ReadFile(dir.Sub("missing.yaml"));
  ASSERT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(),
            dir.Sub("missing.yaml") + ": cannot open: No such file or directory");
}

TEST(ReadFile, RefusesFilesOverTheLimit) {
  testing::TempDir dir;
  std::ofstream(dir.Sub("big")) << std::string(101, 'x');
  Result<std::string> big = ReadFile(dir.Sub("big"), 100);
  ASSERT_EQ(big.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(big.status().message(), dir.Sub("big") + ": 101 bytes is more than the 100-byte limit");
  EXPECT_TRUE(ReadFile(dir.Sub("big"), 101).ok());
}

TEST(ReadFile, RefusesAFifoWithoutWaitingForAWriter) {
  testing::TempDir dir;
  ASSERT_EQ(mkfifo(dir.Sub("fifo").c_str(), 0600), 0);
  Result<std::string> fifo = ReadFile(dir.Sub("fifo"));
  ASSERT_EQ(fifo.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(fifo.status().message(),
            dir.Sub("fifo") +
                ": is a FIFO (named pipe), not a regular file (to read a stream, pass '-' and pipe "
                "it in)");
}

TEST(ReadFile, RefusesDevicesDirectoriesAndSockets) {
  Result<std::string> zero = ReadFile("/dev/zero");
  ASSERT_EQ(zero.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(zero.status().message().find("/dev/zero: is a character device"), std::string::npos);

  testing::TempDir dir;
  Result<std::string> directory = ReadFile(dir.path());
  ASSERT_EQ(directory.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(directory.status().message(), dir.path() + ": is a directory, not a regular file");

  const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const std::string socket_path = dir.Sub("sock");
  std::snprintf(address.sun_path, sizeof(address.sun_path), "%s", socket_path.c_str());
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  Result<std::string> socket_file = ReadFile(socket_path);
  close(fd);
  ASSERT_EQ(socket_file.status().code(), StatusCode::kInvalidArgument);
}

TEST(ReadFile, NamesASymlinkLoop) {
  testing::TempDir dir;
  ASSERT_EQ(symlink("b", dir.Sub("a").c_str()), 0);
  ASSERT_EQ(symlink("a", dir.Sub("b").c_str()), 0);
  Result<std::string> loop = ReadFile(dir.Sub("a"));
  ASSERT_EQ(loop.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(loop.status().message().find("a symlink loop"), std::string::npos);
}

TEST(ReadFile, ReadsStandardInputUpToTheSameLimit) {
  {
    StdinFromPipe in("kind: Pod\n");
    Result<std::string> read = ReadFile("-");
    ASSERT_TRUE(read.ok()) << read.status().ToString();
    EXPECT_EQ(*read, "kind: Pod\n");
  }
  StdinFromPipe in(std::string(101, 'x'));
  Result<std::string> big = ReadFile("-", 100);
  ASSERT_EQ(big.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(big.status().message(), "standard input: more than the 100-byte limit");
}

TEST(ListInputFiles, ListsMatchingFilesInPathOrder) {
  testing::TempDir dir;
  std::filesystem::create_directories(dir.Sub("b/c"));
  for (const char* name : {"b/c/z.yaml", "b/a.yml", "a.json", "notes.txt"}) {
    std::ofstream(dir.Sub(name)) << "x";
  }
  Result<std::vector<std::string>> files = ListInputFiles(dir.path(), {".yaml", ".yml", ".json"});
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  EXPECT_EQ(*files, (std::vector<std::string>{dir.Sub("a.json"), dir.Sub("b/a.yml"),
                                              dir.Sub("b/c/z.yaml")}));
  EXPECT_EQ(*ListInputFiles(dir.Sub("notes.txt"), {".yaml"}),
            std::vector<std::string>{dir.Sub("notes.txt")});
  EXPECT_EQ(*ListInputFiles("-", {".yaml"}), std::vector<std::string>{"-"});
}

TEST(ListInputFiles, EntersADirectoryOnceWhenASymlinkLeadsBack) {
  testing::TempDir dir;
  std::filesystem::create_directories(dir.Sub("in/sub"));
  std::ofstream(dir.Sub("in/sub/pod.yaml")) << "x";
  ASSERT_EQ(symlink("..", dir.Sub("in/sub/up").c_str()), 0);
  ASSERT_EQ(symlink(".", dir.Sub("in/self").c_str()), 0);
  Result<std::vector<std::string>> files = ListInputFiles(dir.Sub("in"), {".yaml"});
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  EXPECT_EQ(*files, std::vector<std::string>{dir.Sub("in/sub/pod.yaml")});
}

TEST(ListInputFiles, NamesASymlinkLoopInsideADirectory) {
  testing::TempDir dir;
  std::filesystem::create_directories(dir.Sub("in"));
  std::ofstream(dir.Sub("in/pod.yaml")) << "x";
  ASSERT_EQ(symlink("b", dir.Sub("in/a").c_str()), 0);
  ASSERT_EQ(symlink("a", dir.Sub("in/b").c_str()), 0);
  Result<std::vector<std::string>> files = ListInputFiles(dir.Sub("in"), {".yaml"});
  ASSERT_EQ(files.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(files.status().message().find("(a symlink loop)"), std::string::npos)
      << files.status().message();
  EXPECT_NE(files.status().message().find(dir.Sub("in/")), std::string::npos);
  Result<std::vector<std::string>> direct = ListInputFiles(dir.Sub("in/a"), {".yaml"});
  ASSERT_EQ(direct.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(direct.status().message().find("(a symlink loop)"), std::string::npos);
}

TEST(ListInputFiles, DanglingSymlinksMatterOnlyWithAMatchingName) {
  testing::TempDir dir;
  std::filesystem::create_directories(dir.Sub("in"));
  std::ofstream(dir.Sub("in/pod.yaml")) << "x";
  ASSERT_EQ(symlink("gone", dir.Sub("in/README").c_str()), 0);
  EXPECT_TRUE(ListInputFiles(dir.Sub("in"), {".yaml"}).ok());
  ASSERT_EQ(symlink("gone", dir.Sub("in/old.yaml").c_str()), 0);
  Result<std::vector<std::string>> files = ListInputFiles(dir.Sub("in"), {".yaml"});
  ASSERT_EQ(files.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(files.status().message(), dir.Sub("in/old.yaml") + ": No such file or directory");
}

TEST(ListInputFiles, MissingPathsAndEmptyDirectoriesAreErrors) {
  testing::TempDir dir;
  EXPECT_EQ(ListInputFiles(dir.Sub("none"), {".yaml"}).status().code(), StatusCode::kNotFound);
  Result<std::vector<std::string>> empty = ListInputFiles(dir.path(), {".yaml", ".yml"});
  ASSERT_EQ(empty.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(empty.status().message(), dir.path() + ": directory holds no .yaml, .yml files");
}

TEST(WriteFile, CreatesAndReplacesRegularFiles) {
  testing::TempDir dir;
  ASSERT_TRUE(WriteFile(dir.Sub("out.yaml"), "one\n").ok());
  EXPECT_EQ(Slurp(dir.Sub("out.yaml")), "one\n");
  ASSERT_TRUE(WriteFile(dir.Sub("out.yaml"), "two\n").ok());
  EXPECT_EQ(Slurp(dir.Sub("out.yaml")), "two\n");
  // Nothing is left behind next to it.
  size_t entries = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    (void)entry;
    ++entries;
  }
  EXPECT_EQ(entries, 1u);
}

TEST(WriteFile, ReplacesTheTargetOfASymlink) {
  testing::TempDir dir;
  std::ofstream(dir.Sub("real.yaml")) << "old";
  ASSERT_EQ(symlink("real.yaml", dir.Sub("link.yaml").c_str()), 0);
  ASSERT_TRUE(WriteFile(dir.Sub("link.yaml"), "new").ok());
  EXPECT_TRUE(std::filesystem::is_symlink(dir.Sub("link.yaml")));
  EXPECT_EQ(Slurp(dir.Sub("real.yaml")), "new");
}

TEST(WriteFile, LeavesFifosAndDirectoriesAlone) {
  testing::TempDir dir;
  ASSERT_EQ(mkfifo(dir.Sub("fifo").c_str(), 0600), 0);
  Status fifo = WriteFile(dir.Sub("fifo"), "x");
  ASSERT_EQ(fifo.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(fifo.message(),
            dir.Sub("fifo") + ": is a FIFO (named pipe); only a regular file is replaced");
  struct stat info;
  ASSERT_EQ(stat(dir.Sub("fifo").c_str(), &info), 0);
  EXPECT_TRUE(S_ISFIFO(info.st_mode));
  std::filesystem::create_directories(dir.Sub("d"));
  EXPECT_EQ(WriteFile(dir.Sub("d"), "x").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(WriteFile(dir.Sub("missing/out.yaml"), "x").code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace gpuslice::io
