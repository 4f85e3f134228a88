// gpuslice-plugin-bench: the device plugin's speed and memory goals, measured on the real
// gpuslice-device-plugin process with 8 simulated H100s split in 16 slices each (128 device
// IDs), driven over its unix sockets by the kubelet stand-in.
//
//   Allocate round trip         p50 / p99 of the Allocate RPC        goal: p99 <= 1 ms
//   Admission round trip        GetPreferredAllocation + Allocate    (what the kubelet waits for)
//   XID to ListAndWatch         injected critical XID -> kubelet sees Unhealthy   goal <= 100 ms
//   kubelet restart             new kubelet.sock -> plugin registered again        goal <= 1 s
//   resident memory             VmRSS / VmHWM of the plugin process              goal <= 20 MiB
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>
#include <vector>

#include "deviceplugin/v1beta1/api.grpc.pb.h"
#include "kubelet/device_manager.h"
#include "sim/state.h"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;
using gpuslice::kubelet::DeviceManager;
using gpuslice::kubelet::DeviceState;

double Millis(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

struct Summary {
  double p50, p99, max;
};

Summary Summarize(std::vector<double> samples) {
  std::sort(samples.begin(), samples.end());
  auto at = [&](double q) {
    return samples[std::min(samples.size() - 1, static_cast<size_t>(q * samples.size()))];
  };
  return {at(0.50), at(0.99), samples.back()};
}

long StatusKiB(pid_t pid, const std::string& field) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  }
  return -1;
}

int CountHealthy(const std::vector<DeviceState>& devices) {
  return static_cast<int>(
      std::count_if(devices.begin(), devices.end(), [](const auto& d) { return d.healthy; }));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Measures gpuslice-device-plugin: Allocate latency, XID-to-ListAndWatch latency, "
               "re-registration after a kubelet restart, and resident memory."};
  int allocations = 5000;
  int restarts = 20;
  int xid_rounds = 3;
  std::string regions_dir;
  std::string bin_dir = fs::path("/proc/self/exe").parent_path().string();
  app.add_option("--allocations", allocations, "Allocate calls to time")->capture_default_str();
  app.add_option("--restarts", restarts, "kubelet restarts to time")->capture_default_str();
  app.add_option("--xid-rounds", xid_rounds, "rounds of one XID per GPU")->capture_default_str();
  app.add_option("--regions-dir", regions_dir,
                 "Where Allocate creates region directories (default: in the bench's temporary "
                 "directory). Each Allocate makes one, so the disk's metadata latency is part of "
                 "the round trip; a tmpfs such as /dev/shm isolates the plugin's own cost.");
  CLI11_PARSE(app, argc, argv);
  char exe[4096] = {};
  if (readlink("/proc/self/exe", exe, sizeof(exe) - 1) > 0) bin_dir = fs::path(exe).parent_path();

  std::string pattern = "/tmp/gs-bench-XXXXXX";
  const std::string dir = mkdtemp(pattern.data());
  if (regions_dir.empty()) regions_dir = dir + "/regions";
  std::string regions_pattern = regions_dir + "/gs-bench-XXXXXX";
  fs::create_directories(regions_dir);
  regions_dir = mkdtemp(regions_pattern.data());
  fs::create_directories(dir + "/lib");
  std::ofstream(dir + "/lib/libgpuslice.so") << "library";
  std::ofstream(dir + "/config.yaml") << "version: v1\nlibrary: {hostDir: " << dir << "/lib}\n"
                                      << "regionsDir: " << regions_dir << "\n"
                                      << "health: {recoveryWindow: 1s}\n"
                                      << "defaultProfile: {slices: 16}\n";
  gpuslice::Result<std::unique_ptr<DeviceManager>> kubelet =
      DeviceManager::Start({dir + "/dp", dir + "/pr.sock"});
  if (!kubelet.ok()) {
    std::cerr << kubelet.status().ToString() << "\n";
    return 1;
  }
  const pid_t plugin = fork();
  if (plugin == 0) {
    const std::string log = dir + "/plugin.log";
    freopen(log.c_str(), "w", stderr);
    freopen(log.c_str(), "a", stdout);
    unsetenv("NVIDIA_VISIBLE_DEVICES");
    execl((bin_dir + "/gpuslice-device-plugin").c_str(), "gpuslice-device-plugin",
          ("--config=" + dir + "/config.yaml").c_str(), ("--device-plugin-dir=" + dir + "/dp").c_str(),
          "--simulate=8xH100-80GB", ("--simulate-state=" + dir + "/sim.state").c_str(),
          ("--pod-resources-socket=" + dir + "/pr.sock").c_str(), "--metrics-address=off",
          static_cast<char*>(nullptr));
    _exit(127);
  }
  const std::string resource = "nvidia.com/gpu";
  auto all_healthy = [](const std::vector<DeviceState>& d) {
    return d.size() == 128 && CountHealthy(d) == 128;
  };
  if (!(*kubelet)->WaitForDevices(resource, all_healthy, 30s)) {
    std::cerr << "the plugin did not advertise 128 healthy slices; see " << dir << "/plugin.log\n";
    kill(plugin, SIGKILL);
    return 1;
  }
  std::cout << "gpuslice-device-plugin, 8 simulated H100-80GB x 16 slices = 128 device IDs; "
               "regions in "
            << regions_dir << "\n";

  // Allocate round trip: the RPC alone, as the kubelet makes it, one slice per container.
  auto channel = grpc::CreateChannel("unix://" + dir + "/dp/gpuslice-nvidia.com_gpu.sock",
                                     grpc::InsecureChannelCredentials());
  auto stub = v1beta1::DevicePlugin::NewStub(channel);
  const std::vector<DeviceState> devices = (*kubelet)->Devices(resource);
  std::vector<double> allocate_ms;
  for (int i = 0; i < allocations; ++i) {
    v1beta1::AllocateRequest request;
    request.add_container_requests()->add_devicesids(devices[static_cast<size_t>(i) % devices.size()].id);
    v1beta1::AllocateResponse response;
    grpc::ClientContext context;
    const auto start = Clock::now();
    const grpc::Status status = stub->Allocate(&context, request, &response);
    allocate_ms.push_back(Millis(Clock::now() - start));
    if (!status.ok()) {
      std::cerr << "Allocate failed: " << status.error_message() << "\n";
      return 1;
    }
  }
  const Summary allocate = Summarize(allocate_ms);

  // Admission: what the kubelet does per container (preferred allocation, then Allocate).
  std::vector<double> admission_ms;
  for (int i = 0; i < 1000; ++i) {
    const auto start = Clock::now();
    gpuslice::Result<gpuslice::kubelet::ContainerAllocation> allocation =
        (*kubelet)->Allocate("bench/pod", "c", resource, 1);
    admission_ms.push_back(Millis(Clock::now() - start));
    if (!allocation.ok()) {
      std::cerr << allocation.status().ToString() << "\n";
      return 1;
    }
    (*kubelet)->ReleasePod("bench/pod");
  }
  const Summary admission = Summarize(admission_ms);

  // XID -> ListAndWatch: one critical XID per GPU per round; recovery between rounds, so the
  // XID is one a GPU recovers from (94, a contained ECC error; 79 would need a GPU reset).
  gpuslice::Result<std::unique_ptr<gpuslice::sim::SimState>> state =
      gpuslice::sim::SimState::Open(dir + "/sim.state");
  if (!state.ok()) {
    std::cerr << state.status().ToString() << "\n";
    return 1;
  }
  std::vector<double> xid_ms;
  for (int round = 0; round < xid_rounds; ++round) {
    for (int gpu = 0; gpu < 8; ++gpu) {
      const int expected = 128 - 16 * (gpu + 1);
      const auto start = Clock::now();
      if (!(*state)->InjectXid(gpu, 94).ok()) return 1;
      if (!(*kubelet)->WaitForDevices(
              resource, [&](const auto& d) { return CountHealthy(d) == expected; }, 10s)) {
        std::cerr << "XID on GPU " << gpu << " did not reach ListAndWatch within 10 s\n";
        kill(plugin, SIGKILL);
        return 1;
      }
      xid_ms.push_back(Millis(Clock::now() - start));
    }
    if (!(*kubelet)->WaitForDevices(resource, all_healthy, 30s)) {
      std::cerr << "the GPUs did not recover within 30 s\n";
      kill(plugin, SIGKILL);
      return 1;
    }
  }
  const Summary xid = Summarize(xid_ms);

  // kubelet restart -> registered again with every slice healthy.
  std::vector<double> restart_ms;
  for (int i = 0; i < restarts; ++i) {
    const auto start = Clock::now();
    if (!(*kubelet)->Restart().ok()) return 1;
    if (!(*kubelet)->WaitForRegistrations(resource, i + 2, 10s) ||
        !(*kubelet)->WaitForDevices(resource, all_healthy, 10s)) {
      std::cerr << "the plugin did not register again within 10 s of kubelet restart " << i + 1
                << "\n";
      kill(plugin, SIGKILL);
      return 1;
    }
    restart_ms.push_back(Millis(Clock::now() - start));
  }
  const Summary restart = Summarize(restart_ms);

  const long rss = StatusKiB(plugin, "VmRSS");
  const long hwm = StatusKiB(plugin, "VmHWM");
  const long anonymous = StatusKiB(plugin, "RssAnon");
  const long file = StatusKiB(plugin, "RssFile");
  kill(plugin, SIGTERM);
  waitpid(plugin, nullptr, 0);

  std::printf("%-28s %10s %10s %10s %8s\n", "measure", "p50 ms", "p99 ms", "max ms", "samples");
  std::printf("%-28s %10.3f %10.3f %10.3f %8zu\n", "Allocate round trip", allocate.p50, allocate.p99,
              allocate.max, allocate_ms.size());
  std::printf("%-28s %10.3f %10.3f %10.3f %8zu\n", "admission (preferred+Allocate)", admission.p50,
              admission.p99, admission.max, admission_ms.size());
  std::printf("%-28s %10.3f %10.3f %10.3f %8zu\n", "XID -> ListAndWatch", xid.p50, xid.p99, xid.max,
              xid_ms.size());
  std::printf("%-28s %10.3f %10.3f %10.3f %8zu\n", "kubelet restart -> registered", restart.p50,
              restart.p99, restart.max, restart_ms.size());
  std::printf("plugin resident memory: %.1f MiB (%.1f MiB private heap and stacks, %.1f MiB "
              "mapped code and data of its libraries), peak %.1f MiB\n",
              rss / 1024.0, anonymous / 1024.0, file / 1024.0, hwm / 1024.0);
  fs::remove_all(regions_dir);
  fs::remove_all(dir);
  return 0;
}
