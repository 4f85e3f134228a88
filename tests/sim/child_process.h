// A child process the test talks to through pipes: fork() for code in this binary, or
// fork()+exec() for a helper program. Lines the child writes to stdout are read with
// ReadLine(), which blocks until one arrives (or the child dies), so tests wait for what the
// child reports instead of sleeping.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace gpuslice::testing {

class ChildProcess {
 public:
  // Runs `body` in a forked child; its return value is the child's exit code. The child
  // writes lines for the parent with Say().
  static ChildProcess Fork(const std::function<int(ChildProcess&)>& body) {
    ChildProcess child;
    child.Start([&] { return body(child); });
    return child;
  }

  // Runs `argv` with `env` added to (or, for nullopt, removed from) the environment.
  static ChildProcess Exec(const std::vector<std::string>& argv,
                           const std::map<std::string, std::optional<std::string>>& env = {}) {
    ChildProcess child;
    child.Start([&] {
      for (const auto& [name, value] : env) {
        if (value) {
          setenv(name.c_str(), value->c_str(), 1);
        } else {
          unsetenv(name.c_str());
        }
      }
      std::vector<char*> args;
      for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
      args.push_back(nullptr);
      execv(args[0], args.data());
      return 127;
    });
    return child;
  }

  ChildProcess(ChildProcess&& other) noexcept { *this = std::move(other); }
  ChildProcess& operator=(ChildProcess&& other) noexcept {
    std::swap(pid_, other.pid_);
    std::swap(to_parent_, other.to_parent_);
    std::swap(to_child_, other.to_child_);
    std::swap(from_child_, other.from_child_);
    std::swap(buffer_, other.buffer_);
    return *this;
  }
  ~ChildProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      Wait();
    }
    if (from_child_ >= 0) close(from_child_);
    if (to_child_ >= 0) close(to_child_);
  }

  pid_t pid() const { return pid_; }

  // In the child: sends one line to the parent.
  void Say(const std::string& line) {
    const std::string text = line + "\n";
    [[maybe_unused]] ssize_t written = write(to_parent_, text.data(), text.size());
  }

  // In the parent: the next line the child said, or nullopt when it exited first.
  std::optional<std::string> ReadLine() {
    for (;;) {
      const size_t newline = buffer_.find('\n');
      if (newline != std::string::npos) {
        std::string line = buffer_.substr(0, newline);
        buffer_.erase(0, newline + 1);
        return line;
      }
      char chunk[256];
      const ssize_t got = read(from_child_, chunk, sizeof(chunk));
      if (got <= 0) return std::nullopt;
      buffer_.append(chunk, static_cast<size_t>(got));
    }
  }

  // In the parent: closes the child's stdin, which helpers take as "finish now".
  void CloseInput() {
    if (to_child_ >= 0) close(to_child_);
    to_child_ = -1;
  }

  void Kill() const { kill(pid_, SIGKILL); }

  // Waits for the child; its exit code, or 128 + the signal that killed it.
  int Wait() {
    if (pid_ <= 0) return exit_code_;
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0) {
    }
    pid_ = -1;
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return exit_code_;
  }

 private:
  ChildProcess() = default;

  template <typename Run>
  void Start(Run run) {
    int up[2], down[2];
    if (pipe(up) != 0 || pipe(down) != 0) return;
    fflush(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      close(up[0]);
      close(down[1]);
      dup2(down[0], STDIN_FILENO);
      dup2(up[1], STDOUT_FILENO);
      to_parent_ = up[1];
      _exit(run());
    }
    close(up[1]);
    close(down[0]);
    from_child_ = up[0];
    to_child_ = down[1];
  }

  pid_t pid_ = -1;
  int exit_code_ = -1;
  int to_parent_ = -1;
  int to_child_ = -1;
  int from_child_ = -1;
  std::string buffer_;
};

}  // namespace gpuslice::testing
