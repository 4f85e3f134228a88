#include "preload/client_process.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <link.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "core/status.h"
#include "sim/environment.h"

namespace gpuslice::testing {
namespace {

namespace fs = std::filesystem;

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

// What a container's process is started with: the simulated driver's variables and, in a
// sanitized build, the sanitizer's runtime first in LD_PRELOAD; then `container_env`.
Environment BaseEnvironment(const SimNode& node) {
  return Environment{
      {"PATH", "/usr/bin:/bin"},
      {"LD_LIBRARY_PATH", GPUSLICE_SIM_DRIVER_DIR},
      {"GPUSLICE_SIM_STATE", node.state_path()},
      {"GPUSLICE_SIM_SPEC", node.spec()},
      {"ASAN_OPTIONS", "detect_leaks=0"},
  };
}

struct Pipes {
  int to_child[2] = {-1, -1};
  int from_child[2] = {-1, -1};
};

// Writes `text` to `fd` from a forked child (no allocation).
void SayInChild(int fd, const char* text) {
  if (write(fd, text, strlen(text)) < 0) return;
}

[[noreturn]] void FailInChild(int fd, const char* step, const char* path) {
  char number[16] = {};
  const int last = static_cast<int>(sizeof(number)) - 1;
  int at = last;
  for (int error = errno; at > 0 && (error > 0 || at == last); error /= 10) {
    number[--at] = static_cast<char>('0' + error % 10);
  }
  SayInChild(fd, "container setup failed: ");
  SayInChild(fd, step);
  SayInChild(fd, " ");
  SayInChild(fd, path);
  SayInChild(fd, ": errno ");
  SayInChild(fd, number + at);
  SayInChild(fd, "\n");
  _exit(127);
}

// How to make a container's mounts, worked out before fork so the child only makes syscalls.
struct MountStep {
  std::vector<std::string> directories;  // to create first, outermost first (may exist)
  std::string target;
  bool target_is_file = false;
  std::string source;
  bool read_only = true;
};

struct ContainerPlan {
  std::vector<std::string> overlay_targets;
  std::vector<std::string> overlay_options;
  std::vector<MountStep> steps;
};

bool IsUnder(const fs::path& path, const fs::path& directory) {
  const std::string p = path.string(), d = directory.string();
  return p.size() > d.size() && p.compare(0, d.size(), d) == 0 && p[d.size()] == '/';
}

Result<ContainerPlan> PlanContainer(const std::vector<ContainerMount>& mounts,
                                    const std::string& scratch) {
  ContainerPlan plan;
  std::vector<fs::path> directory_mounts;  // targets so far that are directories
  std::vector<fs::path> overlays;
  for (const ContainerMount& mount : OrderMountsLikeContainerd(mounts)) {
    MountStep step;
    const fs::path target = fs::path(mount.container_path).lexically_normal();
    step.target = target.string();
    step.source = mount.host_path;
    step.read_only = mount.read_only;
    step.target_is_file = !fs::is_directory(mount.host_path);
    for (fs::path parent = target.parent_path(); parent != parent.root_path();
         parent = parent.parent_path()) {
      step.directories.insert(step.directories.begin(), parent.string());
    }
    const bool inside_a_mount =
        std::any_of(directory_mounts.begin(), directory_mounts.end(),
                    [&](const fs::path& mounted) { return IsUnder(target, mounted); });
    if (!inside_a_mount && !fs::exists(target)) {
      // The host's directory the mount point must be made in is overlaid, never changed.
      fs::path existing = target.parent_path();
      while (!fs::exists(existing)) existing = existing.parent_path();
      if (existing == existing.root_path()) {
        return Status::InvalidArgument("no overlay of / for " + mount.container_path);
      }
      overlays.push_back(existing);
    }
    if (!step.target_is_file) directory_mounts.push_back(target);
    plan.steps.push_back(std::move(step));
  }
  std::sort(overlays.begin(), overlays.end());
  overlays.erase(std::unique(overlays.begin(), overlays.end()), overlays.end());
  int count = 0;
  for (const fs::path& overlay : overlays) {
    const bool covered = std::any_of(overlays.begin(), overlays.end(), [&](const fs::path& other) {
      return IsUnder(overlay, other);
    });
    if (covered) continue;
    const std::string base = scratch + "/overlay-" + std::to_string(count++);
    fs::create_directories(base + "/upper");
    fs::create_directories(base + "/work");
    plan.overlay_targets.push_back(overlay.string());
    plan.overlay_options.push_back("lowerdir=" + overlay.string() + ",upperdir=" + base +
                                   "/upper,workdir=" + base + "/work");
  }
  return plan;
}

// In a forked child: a private mount namespace with `plan` made in it. Exits on failure.
void MakeContainerInChild(const ContainerPlan& plan, int error_fd) {
  if (unshare(CLONE_NEWNS) != 0) FailInChild(error_fd, "unshare", "");
  // Private first: nothing made below may propagate back to the host's namespace.
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    FailInChild(error_fd, "make private", "/");
  }
  for (size_t i = 0; i < plan.overlay_targets.size(); ++i) {
    if (mount("overlay", plan.overlay_targets[i].c_str(), "overlay", 0,
              plan.overlay_options[i].c_str()) != 0) {
      FailInChild(error_fd, "overlay", plan.overlay_targets[i].c_str());
    }
  }
  for (const MountStep& step : plan.steps) {
    for (const std::string& directory : step.directories) {
      if (mkdir(directory.c_str(), 0755) != 0 && errno != EEXIST) {
        FailInChild(error_fd, "mkdir", directory.c_str());
      }
    }
    if (step.target_is_file) {
      const int fd = open(step.target.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
      if (fd < 0) FailInChild(error_fd, "create", step.target.c_str());
      close(fd);
    } else if (mkdir(step.target.c_str(), 0755) != 0 && errno != EEXIST) {
      FailInChild(error_fd, "mkdir", step.target.c_str());
    }
    if (mount(step.source.c_str(), step.target.c_str(), nullptr, MS_BIND, nullptr) != 0) {
      FailInChild(error_fd, "bind", step.target.c_str());
    }
    if (step.read_only && mount(nullptr, step.target.c_str(), nullptr,
                                MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr) != 0) {
      FailInChild(error_fd, "remount read-only", step.target.c_str());
    }
  }
}

}  // namespace

std::vector<ContainerMount> OrderMountsLikeContainerd(std::vector<ContainerMount> mounts) {
  auto depth = [](const ContainerMount& mount) {
    const std::string clean = fs::path(mount.container_path).lexically_normal().string();
    return std::count(clean.begin(), clean.end(), '/') - (clean.size() > 1 && clean.back() == '/');
  };
  std::stable_sort(
      mounts.begin(), mounts.end(),
      [&](const ContainerMount& a, const ContainerMount& b) { return depth(a) < depth(b); });
  return mounts;
}

bool CanStartContainers(std::string* why) {
  static const std::string reason = [] {
    char pattern[] = "/tmp/gpuslice-probe-XXXXXX";
    if (mkdtemp(pattern) == nullptr) return std::string("cannot make a temporary directory");
    const std::string base = pattern;
    for (const char* sub : {"/lower", "/upper", "/work"}) mkdir((base + sub).c_str(), 0755);
    const std::string options =
        "lowerdir=" + base + "/lower,upperdir=" + base + "/upper,workdir=" + base + "/work";
    const pid_t child = fork();
    if (child == 0) {
      if (unshare(CLONE_NEWNS) != 0) _exit(1);
      if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) _exit(2);
      if (mount("overlay", (base + "/lower").c_str(), "overlay", 0, options.c_str()) != 0) {
        _exit(3);
      }
      _exit(0);
    }
    int status = 0;
    waitpid(child, &status, 0);
    fs::remove_all(base);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return std::string();
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return std::string(code == 3 ? "overlay mounts are not allowed"
                                 : "mount namespaces need root (CAP_SYS_ADMIN)") +
           " here, so clients cannot run with a container's mounts";
  }();
  if (why != nullptr) *why = reason;
  return reason.empty();
}

SimNode::SimNode(std::string spec) : spec_(std::move(spec)) {
  char pattern[] = "/tmp/gpuslice-preload-XXXXXX";
  directory_ = mkdtemp(pattern);
  state_path_ = directory_ + "/sim-state";
}

void SimNode::set_spec(std::string spec) {
  spec_ = std::move(spec);
  if (!std::filesystem::is_regular_file(spec_)) return;
  Result<sim::OpenedState> opened = sim::OpenOrCreateState(state_path_, spec_);
  if (!opened.ok()) ADD_FAILURE() << "creating " << state_path_ << ": " << opened.status().ToString();
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
                                                    const Environment& container_env, bool preload,
                                                    const std::string& stderr_path) {
  signal(SIGPIPE, SIG_IGN);  // a client that died is seen as an empty answer instead
  Environment env = BaseEnvironment(node);
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
  const int error_fd = stderr_path.empty() ? -1
                                           : open(stderr_path.c_str(),
                                                  O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(to_child[0], STDIN_FILENO);
    dup2(from_child[1], STDOUT_FILENO);
    if (error_fd >= 0) dup2(error_fd, STDERR_FILENO);
    char* argv[] = {const_cast<char*>(path.c_str()), nullptr};
    execve(path.c_str(), argv, envp.data());
    _exit(127);
  }
  if (error_fd >= 0) close(error_fd);
  close(to_child[0]);
  close(from_child[1]);
  if (pid < 0) {
    ADD_FAILURE() << "fork: " << std::strerror(errno);
    return nullptr;
  }
  return std::unique_ptr<ClientProcess>(
      new ClientProcess(pid, to_child[1], fdopen(from_child[0], "r")));
}

std::unique_ptr<ClientProcess> ClientProcess::StartInContainer(
    const std::string& program, const SimNode& node, const Environment& container_env,
    const std::vector<ContainerMount>& mounts, const std::string& stderr_path) {
  signal(SIGPIPE, SIG_IGN);
  Result<ContainerPlan> plan = PlanContainer(mounts, node.directory());
  if (!plan.ok()) {
    ADD_FAILURE() << plan.status().ToString();
    return nullptr;
  }
  Environment env = BaseEnvironment(node);
  for (const auto& [name, value] : container_env) env[name] = value;
  const std::string runtime = SanitizerRuntime();
  if (!runtime.empty()) {
    // ASan must come first in the initial library list; the container's own LD_PRELOAD (empty
    // or not) follows, and /etc/ld.so.preload after it, as for any process.
    const auto own = container_env.find("LD_PRELOAD");
    env["LD_PRELOAD"] =
        own == container_env.end() || own->second.empty() ? runtime : runtime + ":" + own->second;
  }
  std::vector<std::string> entries;
  for (const auto& [name, value] : env) entries.push_back(name + "=" + value);
  std::vector<char*> envp;
  for (std::string& entry : entries) envp.push_back(entry.data());
  envp.push_back(nullptr);
  const std::string path = std::string(GPUSLICE_BIN_DIR) + "/" + program;

  const int error_fd = open(stderr_path.c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
  int to_child[2], from_child[2];
  if (error_fd < 0 || pipe2(to_child, O_CLOEXEC) != 0 || pipe2(from_child, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "cannot set up the client's stdio: " << std::strerror(errno);
    return nullptr;
  }
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(to_child[0], STDIN_FILENO);
    dup2(from_child[1], STDOUT_FILENO);
    dup2(error_fd, STDERR_FILENO);
    MakeContainerInChild(*plan, STDERR_FILENO);
    char* argv[] = {const_cast<char*>(path.c_str()), nullptr};
    execve(path.c_str(), argv, envp.data());
    FailInChild(STDERR_FILENO, "exec", path.c_str());
  }
  close(error_fd);
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
