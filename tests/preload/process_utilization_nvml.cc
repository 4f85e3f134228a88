// A stand-in libnvidia-ml.so.1 for the compute-share tests: the NVML entry points
// libgpuslice.so calls, answered from the simulated node's shared state, including
// nvmlDeviceGetProcessUtilization, which the simulated NVML does not offer yet. Samples
// follow NVML's published behaviour: one per process per call that is newer than
// lastSeenTimeStamp, with the SM utilization over the time since the previous call.
// The tests use the simulated NVML itself as soon as it has that entry point.
#include <time.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "core/abi/nvml.h"
#include "sim/environment.h"

namespace {

struct Node {
  std::unique_ptr<gpuslice::sim::SimState> state;
  std::vector<int> visible;  // node index of each handle's GPU
};

// Never destroyed: callers may still be sampling while the process exits.
Node* node = nullptr;
std::mutex mutex;
// Per (GPU, process): busy time reported so far and the time of the previous sample.
auto& previous =
    *new std::map<std::pair<int, unsigned int>, std::pair<uint64_t, unsigned long long>>();

unsigned long long NowMicros() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<unsigned long long>(now.tv_sec) * 1'000'000ULL +
         static_cast<unsigned long long>(now.tv_nsec) / 1000ULL;
}

nvmlDevice_t HandleOf(size_t position) { return reinterpret_cast<nvmlDevice_t>(position + 1); }

// The node index of a handle, or -1.
int GpuOf(nvmlDevice_t device) {
  const auto position = reinterpret_cast<uintptr_t>(device);
  if (node == nullptr || position == 0 || position > node->visible.size()) return -1;
  return node->visible[position - 1];
}

}  // namespace

#define EXPORT extern "C" __attribute__((visibility("default")))

EXPORT nvmlReturn_t nvmlInit_v2() {
  std::lock_guard<std::mutex> guard(mutex);
  if (node != nullptr) return NVML_SUCCESS;
  auto opened = gpuslice::sim::OpenStateFromEnvironment();
  if (!opened.ok()) return NVML_ERROR_DRIVER_NOT_LOADED;
  auto visible = gpuslice::sim::VisibleGpus(*opened->state, std::getenv("NVIDIA_VISIBLE_DEVICES"));
  if (!visible.ok()) return NVML_ERROR_DRIVER_NOT_LOADED;
  node = new Node{std::move(opened->state), std::move(*visible)};
  return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t* device) {
  if (node == nullptr) return NVML_ERROR_UNINITIALIZED;
  if (device == nullptr || index >= node->visible.size()) return NVML_ERROR_INVALID_ARGUMENT;
  *device = HandleOf(index);
  return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetHandleByUUID(const char* uuid, nvmlDevice_t* device) {
  if (node == nullptr) return NVML_ERROR_UNINITIALIZED;
  for (size_t i = 0; uuid != nullptr && device != nullptr && i < node->visible.size(); ++i) {
    if (node->state->gpu(node->visible[i]).uuid == uuid) {
      *device = HandleOf(i);
      return NVML_SUCCESS;
    }
  }
  return NVML_ERROR_NOT_FOUND;
}

EXPORT nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char* uuid, unsigned int length) {
  const int gpu = GpuOf(device);
  if (gpu < 0 || uuid == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  const std::string& text = node->state->gpu(gpu).uuid;
  if (length <= text.size()) return NVML_ERROR_INSUFFICIENT_SIZE;
  std::memcpy(uuid, text.c_str(), text.size() + 1);
  return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t* memory) {
  const int gpu = GpuOf(device);
  if (gpu < 0 || memory == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  memory->total = node->state->gpu(gpu).memory_bytes;
  memory->used = std::min<unsigned long long>(node->state->MemoryUsed(gpu), memory->total);
  memory->free = memory->total - memory->used;
  return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetProcessUtilization(nvmlDevice_t device,
                                                    nvmlProcessUtilizationSample_t* utilization,
                                                    unsigned int* count,
                                                    unsigned long long last_seen) {
  const int gpu = GpuOf(device);
  if (gpu < 0 || count == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  const std::vector<gpuslice::sim::ProcessUsage> processes = node->state->Usage(gpu).processes;
  if (utilization == nullptr || *count < processes.size()) {
    *count = static_cast<unsigned int>(processes.size());
    return processes.empty() ? NVML_SUCCESS : NVML_ERROR_INSUFFICIENT_SIZE;
  }
  std::lock_guard<std::mutex> guard(mutex);
  const unsigned long long now = NowMicros();
  unsigned int written = 0;
  for (const gpuslice::sim::ProcessUsage& process : processes) {
    const auto key = std::make_pair(gpu, static_cast<unsigned int>(process.pid));
    auto [before, inserted] = previous.try_emplace(key, process.busy_ns, now);
    const unsigned long long since = before->second.second;
    if (inserted || now <= since || now <= last_seen) continue;
    // The simulated GPU counts kernel time when it is queued; like a real GPU's counters, a
    // sample shows at most the time that passed, and what it does not show comes later.
    const uint64_t elapsed_ns = (now - since) * 1000ULL;
    const uint64_t unreported_ns = process.busy_ns - before->second.first;
    const uint64_t busy_ns = std::min(unreported_ns, elapsed_ns);
    const auto percent = static_cast<unsigned int>((100 * busy_ns + elapsed_ns / 2) / elapsed_ns);
    utilization[written++] = nvmlProcessUtilizationSample_t{key.second, now, percent, 0, 0, 0};
    // What the rounded percentage reports, never more than there was.
    before->second = {before->second.first + std::min(unreported_ns, elapsed_ns * percent / 100), now};
  }
  *count = written;
  return NVML_SUCCESS;
}
