#include "preload/client_process.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <link.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

namespace gpuslice::testing {
namespace {

// The ASan runtime this test binary runs with, or "" in an unsanitized build.
std::string SanitizerRuntime() {
  std::string found;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* out) {
        if (info->dlpi_name != nullptr && std::strstr(info->dlpi_name, "libasan.so") != nullptr) {
          *static_cast<std::string*>(out) = info->dlpi_name;
          return 1;
        }
        return 0;
      },
      &found);
  return found;
}

}  // namespace

SimNode::SimNode(std::string spec) : spec_(std::move(spec)) {
  char pattern[] = "/tmp/gpuslice-preload-XXXXXX";
  directory_ = mkdtemp(pattern);
  state_path_ = directory_ + "/sim-state";
}

SimNode::~SimNode() { std::filesystem::remove_all(directory_); }

std::string SimNode::NewRegionFile() {
  // A directory per allocation, like the plugin's, holding an empty file anyone may write.
  const std::string allocation = directory_ + "/allocation-" + std::to_string(++regions_);
  std::filesystem::create_directory(allocation);
  const std::string path = allocation + "/region";
  const int fd = open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
  close(fd);
  return path;
}

bool ClientExists(const std::string& program) {
  return access((std::string(GPUSLICE_BIN_DIR) + "/" + program).c_str(), X_OK) == 0;
}

Environment SliceEnvironment(SimNode& node, const std::string& uuid, uint64_t memory_bytes,
                             int compute_percent) {
  return Environment{{"NVIDIA_VISIBLE_DEVICES", uuid},
                     {"GPUSLICE_MEMORY_LIMIT_0", std::to_string(memory_bytes)},
                     {"GPUSLICE_COMPUTE_LIMIT_0", std::to_string(compute_percent)},
                     {"GPUSLICE_REGION", node.NewRegionFile()}};
}

std::unique_ptr<ClientProcess> ClientProcess::Start(const std::string& program, const SimNode& node,
                                                    const Environment& container_env,
                                                    bool preload) {
  signal(SIGPIPE, SIG_IGN);  // a client that died is seen as an empty answer instead
  Environment env = {
      {"PATH", "/usr/bin:/bin"},
      {"LD_LIBRARY_PATH", GPUSLICE_SIM_DRIVER_DIR},
      {"GPUSLICE_SIM_STATE", node.state_path()},
      {"GPUSLICE_SIM_SPEC", node.spec()},
      {"ASAN_OPTIONS", "detect_leaks=0"},
  };
  for (const auto& [name, value] : container_env) env[name] = value;
  if (preload) {
    const std::string runtime = SanitizerRuntime();
    const std::string library = std::string(GPUSLICE_LIB_DIR) + "/libgpuslice.so";
    env["LD_PRELOAD"] = runtime.empty() ? library : runtime + ":" + library;
  }
  std::vector<std::string> entries;
  for (const auto& [name, value] : env) entries.push_back(name + "=" + value);
  std::vector<char*> envp;
  for (std::string& entry : entries) envp.push_back(entry.data());
  envp.push_back(nullptr);
  const std::string path = std::string(GPUSLICE_BIN_DIR) + "/" + program;

  int to_child[2], from_child[2];
  if (pipe2(to_child, O_CLOEXEC) != 0 || pipe2(from_child, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe: " << std::strerror(errno);
    return nullptr;
  }
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(to_child[0], STDIN_FILENO);
    dup2(from_child[1], STDOUT_FILENO);
    char* argv[] = {const_cast<char*>(path.c_str()), nullptr};
    execve(path.c_str(), argv, envp.data());
    _exit(127);
  }
  close(to_child[0]);
  close(from_child[1]);
  if (pid < 0) {
    ADD_FAILURE() << "fork: " << std::strerror(errno);
    return nullptr;
  }
  return std::unique_ptr<ClientProcess>(
      new ClientProcess(pid, to_child[1], fdopen(from_child[0], "r")));
}

ClientProcess::~ClientProcess() {
  if (!reaped_) {
    Send("exit");
    close(in_);
    in_ = -1;
    waitpid(pid_, nullptr, 0);
  }
  if (in_ >= 0) close(in_);
  fclose(out_);
}

std::string ClientProcess::ReadLine() {
  char* line = nullptr;
  size_t capacity = 0;
  const ssize_t length = getline(&line, &capacity, out_);
  std::string text = length > 0 ? std::string(line, static_cast<size_t>(length)) : "";
  free(line);
  if (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

std::string ClientProcess::Send(const std::string& command) {
  const std::string line = command + "\n";
  if (write(in_, line.data(), line.size()) != static_cast<ssize_t>(line.size())) return "";
  if (command == "exit") return "";
  return ReadLine();
}

std::vector<std::string> ClientProcess::SendForLines(const std::string& command) {
  std::vector<std::string> lines;
  for (std::string line = Send(command); !line.empty() && line != "end"; line = ReadLine()) {
    lines.push_back(line);
  }
  return lines;
}

void ClientProcess::Kill() {
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  reaped_ = true;
}

}  // namespace gpuslice::testing
