// Starts the test clients (tests/preload/clients) as real processes with a container's
// environment and libgpuslice.so preloaded over the simulated driver, and talks to them
// over their standard input and output.
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace gpuslice::testing {

// An environment as an Allocate response's `envs` hold it: name -> value.
using Environment = std::map<std::string, std::string>;

// A simulated node for one test: a fresh state file in a temporary directory, created from
// `spec` (the simulated driver's spec grammar) on first use, or from a YAML spec file at once.
class SimNode {
 public:
  explicit SimNode(std::string spec);
  ~SimNode();
  SimNode(const SimNode&) = delete;
  SimNode& operator=(const SimNode&) = delete;

  const std::string& directory() const { return directory_; }
  const std::string& state_path() const { return state_path_; }
  const std::string& spec() const { return spec_; }
  // A spec file becomes the state file at once, as `gpuslice sim create` makes it: the
  // simulated driver libraries read spec strings only.
  void set_spec(std::string spec);
  // A new, empty region file as the device plugin creates one for an allocation.
  std::string NewRegionFile();

 private:
  std::string directory_;
  std::string state_path_;
  std::string spec_;
  int regions_ = 0;
};

// A mount a container runtime makes for a container: `host_path` (a file or a directory) at
// `container_path`.
struct ContainerMount {
  std::string container_path;
  std::string host_path;
  bool read_only = true;
};

// `mounts` in the order the kubelet and containerd make them: the kubelet lists a device
// plugin's mounts before the pod's volumes, and containerd sorts that list by the number of
// path components, keeping the kubelet's order among equals; each mount goes on top of the
// ones before it.
std::vector<ContainerMount> OrderMountsLikeContainerd(std::vector<ContainerMount> mounts);

// True when this process may run clients in mount namespaces of their own (root, or a kernel
// that lets anyone make them); otherwise false with the reason in `why`.
bool CanStartContainers(std::string* why);

class ClientProcess {
 public:
  // Starts `program` (a client in the build's bin/ directory) on `node` with the container
  // environment `container_env` on top of a minimal base. With `preload`, libgpuslice.so is
  // preloaded; in a sanitized build the ASan runtime goes first in LD_PRELOAD, since an
  // ASan-built library can only be preloaded after it. Leak checking is off in the clients:
  // they are killed mid-work on purpose. Its stderr goes to `stderr_path` when one is given.
  // Returns nullptr (with a gtest failure) on error.
  static std::unique_ptr<ClientProcess> Start(const std::string& program, const SimNode& node,
                                              const Environment& container_env, bool preload = true,
                                              const std::string& stderr_path = "");
  // Starts `program` the way a container runtime starts a container's process: in a mount
  // namespace of its own where `mounts` are made in OrderMountsLikeContainerd's order (the
  // host's directories they land in are overlaid, never changed), with `container_env` as the
  // whole environment besides the simulated driver's. Nothing preloads the library but what
  // the mounts put at /etc/ld.so.preload; in a sanitized build the ASan runtime goes first in
  // LD_PRELOAD, ahead of the container's own LD_PRELOAD. The client's stderr goes to
  // `stderr_path`. REQUIRES: CanStartContainers().
  static std::unique_ptr<ClientProcess> StartInContainer(const std::string& program,
                                                         const SimNode& node,
                                                         const Environment& container_env,
                                                         const std::vector<ContainerMount>& mounts,
                                                         const std::string& stderr_path);
  ~ClientProcess();
  ClientProcess(const ClientProcess&) = delete;
  ClientProcess& operator=(const ClientProcess&) = delete;

  // Sends one command and returns its one-line answer ("" when the client died).
  std::string Send(const std::string& command);
  // Sends a command answered by several lines ended by "end"; returns them without "end".
  std::vector<std::string> SendForLines(const std::string& command);

  pid_t pid() const { return pid_; }
  // SIGKILL, then reaps the process.
  void Kill();

 private:
  ClientProcess(pid_t pid, int in, FILE* out) : pid_(pid), in_(in), out_(out) {}
  std::string ReadLine();

  pid_t pid_;
  int in_;
  FILE* out_;
  bool reaped_ = false;
};

// The clients, one per way of reaching the driver.
inline constexpr const char* kDirectClient = "preload_direct_client";
inline constexpr const char* kCudartClient = "preload_cudart_client";
inline constexpr const char* kCublasClient = "preload_cublas_client";
// A client that only answers dlsym(RTLD_DEFAULT) lookups, from its executable and from a
// module it dlopened RTLD_LOCAL (clients/scope_client.cc).
inline constexpr const char* kScopeClient = "preload_scope_client";
// The direct client compiled against NVIDIA's cuda.h; only built where it is installed.
inline constexpr const char* kRealHeaderClient = "preload_direct_client_real_cuda_h";

// True when `program` was built (the real-header client needs NVIDIA's cuda.h).
bool ClientExists(const std::string& program);

// The "allocate" environment of one slice of the node's GPU 0: UUID, memory limit, compute
// share and a fresh region file.
Environment SliceEnvironment(SimNode& node, const std::string& uuid, uint64_t memory_bytes,
                             int compute_percent = 100);

}  // namespace gpuslice::testing
