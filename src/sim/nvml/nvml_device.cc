// Device queries of the simulated NVML: enumeration, identity, PCI, memory, utilization and
// running processes, answered from the shared state of the simulated node.
#include <strings.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "sim/nvml/nvml_library.h"

namespace {

using gpuslice::sim::GpuSpec;
using gpuslice::sim::GpuUsage;
using gpuslice::sim::nvml::CopyOut;
using gpuslice::sim::nvml::NvmlLibrary;

// gpuInstanceId / computeInstanceId of processes on a GPU without MIG partitions.
constexpr unsigned int kNoInstance = 0xFFFFFFFFU;

NvmlLibrary& Library() { return NvmlLibrary::Get(); }

// Runs `body(gpu)` for a valid, initialized, answering device.
template <typename Body>
nvmlReturn_t WithGpu(nvmlDevice_t device, Body body) {
  int gpu = 0;
  const nvmlReturn_t resolved = Library().Resolve(device, &gpu);
  if (resolved != NVML_SUCCESS) return resolved;
  return body(gpu);
}

nvmlReturn_t HandleByIndex(unsigned int index, nvmlDevice_t* device) {
  NvmlLibrary& library = Library();
  if (!library.initialized()) return NVML_ERROR_UNINITIALIZED;
  if (device == nullptr || index >= static_cast<unsigned>(library.device_count())) {
    return NVML_ERROR_INVALID_ARGUMENT;
  }
  nvmlDevice_t handle = library.handle(static_cast<int>(index));
  if (library.state().IsLost(handle->gpu)) return NVML_ERROR_GPU_IS_LOST;
  *device = handle;
  return NVML_SUCCESS;
}

nvmlReturn_t HandleBy(bool (*matches)(const GpuSpec&, const char*), const char* key,
                      nvmlDevice_t* device) {
  NvmlLibrary& library = Library();
  if (!library.initialized()) return NVML_ERROR_UNINITIALIZED;
  if (key == nullptr || device == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  for (int i = 0; i < library.device_count(); ++i) {
    nvmlDevice_t handle = library.handle(i);
    if (matches(library.state().gpu(handle->gpu), key)) {
      if (library.state().IsLost(handle->gpu)) return NVML_ERROR_GPU_IS_LOST;
      *device = handle;
      return NVML_SUCCESS;
    }
  }
  return NVML_ERROR_NOT_FOUND;
}

template <typename Info>
nvmlReturn_t RunningProcesses(nvmlDevice_t device, unsigned int* count, Info* infos) {
  if (count == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  return WithGpu(device, [&](int gpu) {
    const GpuUsage usage = Library().state().Usage(gpu);
    unsigned int running = 0;
    for (const auto& process : usage.processes) running += process.running ? 1 : 0;
    if (*count < running || (running > 0 && infos == nullptr)) {
      *count = running;
      return NVML_ERROR_INSUFFICIENT_SIZE;
    }
    unsigned int written = 0;
    for (const auto& process : usage.processes) {
      if (!process.running) continue;
      Info info{};
      info.pid = Library().ReportedPid(process.pid);
      info.usedGpuMemory = process.memory_bytes;
      if constexpr (sizeof(Info) > sizeof(nvmlProcessInfo_v1_t)) {
        info.gpuInstanceId = kNoInstance;
        info.computeInstanceId = kNoInstance;
      }
      infos[written++] = info;
    }
    *count = written;
    return NVML_SUCCESS;
  });
}

}  // namespace

GPUSLICE_NVML_EXPORT nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int* count) {
  NvmlLibrary& library = Library();
  if (!library.initialized()) return NVML_ERROR_UNINITIALIZED;
  if (count == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  *count = static_cast<unsigned int>(library.device_count());
  return NVML_SUCCESS;
}

GPUSLICE_NVML_EXPORT nvmlReturn_t nvmlDeviceGetCount(unsigned int* count) {
  return nvmlDeviceGetCount_v2(count);
}

GPUSLICE_NVML_EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index,
                                                                nvmlDevice_t* device) {
  return HandleByIndex(index, device);
}

GPUSLICE_NVML_EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned int index,
                                                             nvmlDevice_t* device) {
  return HandleByIndex(index, device);
}

GPUSLICE_NVML_EXPORT nvmlReturn_t nvmlDeviceGetHandleByUUID(const char* uuid,
                                                            nvmlDevice_t* device) {
  return HandleBy([](const GpuSpec& gpu, const char* key) { return gpu.uuid == key; }, uuid,
                  device);
}

GPUSLICE_NVML_EXPORT nvmlReturn_t nvmlDeviceGetHandleByPciBusId_v2(const char* bus_id,
                                                                   nvmlDevice_t* device) {
  return HandleBy(
      [](const GpuSpec& gpu, const char* key) {
        // Accept NVML's 8-digit domain and the legacy 4-digit form, in any case.
        const std::string& ours = gpu.pci_bus_id;
        const std::string theirs = key;
        const std::string legacy = ours.substr(4);
        return strcasecmp(ours.c_str(), theirs.c_str()) == 0 ||
               strcasecmp(legacy.c_str(), theirs.c_str()) == 0;
      },
      bus_id, device);
}

GPUSLICE_NVML_EXPORT nvmlReturn_t nvmlDeviceGetIndex(nvmlDevice_t device, unsigned int* index) {
  if (index == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  return WithGpu(device, [&](int) {
    *index = static_cast<unsigned int>(device->visible_index);
    return NVML_SUCCESS;
  });
}

GPUSLICE_NVML_EXPORT nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char* uuid,
                                                    unsigned int length) {
  return WithGpu(device,
                 [&](int gpu) { return CopyOut(Library().state().gpu(gpu).uuid, uuid, length); });
}

GPUSLICE_NVML_EXPORT nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char* name,
                                                    unsigned int length) {
  return WithGpu(device,
                 [&](int gpu) { return CopyOut(Library().state().gpu(gpu).name, name, length); });
}

GPUSLICE_NVML_EXPORT nvmlReturn_t nvmlDeviceGetMinorNumber(nvmlDevice_t device,
                                                           unsigned int* minor) {
  if (minor == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  return WithGpu(device, [&](int gpu) {
    *minor = static_cast<unsigned int>(Library().state().gpu(gpu).minor);
    return NVML_SUCCESS;
  });
}

GPUSLICE_NVML_EXPORT nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t device, nvmlPciInfo_t* pci) {
  if (pci == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  return WithGpu(device, [&](int gpu) {
    const GpuSpec& spec = Library().state().gpu(gpu);
    *pci = nvmlPciInfo_t{};
    unsigned int domain = 0, bus = 0, slot = 0, function = 0;
    std::sscanf(spec.pci_bus_id.c_str(), "%x:%x:%x.%x", &domain, &bus, &slot, &function);
    pci->domain = domain;
    pci->bus = bus;
    pci->device = slot;
    pci->pciDeviceId = spec.pci_device_id;
    pci->pciSubSystemId = spec.pci_subsystem_id;
    std::snprintf(pci->busId, sizeof(pci->busId), "%s", spec.pci_bus_id.c_str());
    std::snprintf(pci->busIdLegacy, sizeof(pci->busIdLegacy), "%04X:%02X:%02X.%X", domain, bus,
                  slot, function);
    return NVML_SUCCESS;
  });
}

GPUSLICE_NVML_EXPORT nvmlReturn_t nvmlDeviceGetNumaNodeId(nvmlDevice_t device, unsigned int* node) {
  if (node == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  return WithGpu(device, [&](int gpu) {
    const int numa = Library().state().gpu(gpu).numa_node;
    if (numa < 0) return NVML_ERROR_NOT_SUPPORTED;
    *node = static_cast<unsigned int>(numa);
    return NVML_SUCCESS;
  });
}

GPUSLICE_NVML_EXPORT nvmlReturn_t nvmlDeviceGetCudaComputeCapability(nvmlDevice_t device,
                                                                     int* major, int* minor) {
  if (major == nullptr || minor == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  return WithGpu(device, [&](int gpu) {
    *major = Library().state().gpu(gpu).cc_major;
    *minor = Library().state().gpu(gpu).cc_minor;
    return NVML_SUCCESS;
  });
}

GPUSLICE_NVML_EXPORT nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t device, unsigned int* current,
                                                       unsigned int* pending) {
  if (current == nullptr || pending == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  return WithGpu(device, [&](int gpu) {
    // A simulated GPU not put in MIG mode answers as GPUs without MIG support do.
    if (!Library().state().gpu(gpu).mig_mode) return NVML_ERROR_NOT_SUPPORTED;
    *current = NVML_DEVICE_MIG_ENABLE;
    *pending = NVML_DEVICE_MIG_ENABLE;
    return NVML_SUCCESS;
  });
}

GPUSLICE_NVML_EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device,
                                                          nvmlMemory_t* memory) {
  if (memory == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  return WithGpu(device, [&](int gpu) {
    const uint64_t total = Library().state().gpu(gpu).memory_bytes;
    const uint64_t used = Library().state().MemoryUsed(gpu);
    memory->total = total;
    memory->used = used;
    memory->free = total > used ? total - used : 0;
    return NVML_SUCCESS;
  });
}

GPUSLICE_NVML_EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device,
                                                             nvmlMemory_v2_t* memory) {
  if (memory == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  if (memory->version != nvmlMemory_v2) return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
  return WithGpu(device, [&](int gpu) {
    const uint64_t total = Library().state().gpu(gpu).memory_bytes;
    const uint64_t used = Library().state().MemoryUsed(gpu);
    memory->total = total;
    memory->reserved = 0;
    memory->used = used;
    memory->free = total > used ? total - used : 0;
    return NVML_SUCCESS;
  });
}

GPUSLICE_NVML_EXPORT nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device,
                                                                nvmlUtilization_t* utilization) {
  if (utilization == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  return WithGpu(device, [&](int gpu) {
    const GpuUsage usage = Library().state().Usage(gpu);
    utilization->gpu = static_cast<unsigned int>(usage.utilization_percent + 0.5);
    utilization->memory = 0;  // memory traffic is not simulated
    return NVML_SUCCESS;
  });
}

GPUSLICE_NVML_EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses(
    nvmlDevice_t device, unsigned int* count, nvmlProcessInfo_v1_t* infos) {
  return RunningProcesses(device, count, infos);
}

GPUSLICE_NVML_EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v2(
    nvmlDevice_t device, unsigned int* count, nvmlProcessInfo_t* infos) {
  return RunningProcesses(device, count, infos);
}

GPUSLICE_NVML_EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(
    nvmlDevice_t device, unsigned int* count, nvmlProcessInfo_t* infos) {
  return RunningProcesses(device, count, infos);
}

GPUSLICE_NVML_EXPORT nvmlReturn_t nvmlDeviceGetProcessUtilization(
    nvmlDevice_t device, nvmlProcessUtilizationSample_t* utilization,
    unsigned int* processSamplesCount, unsigned long long lastSeenTimeStamp) {
  if (processSamplesCount == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  return WithGpu(device, [&](int gpu) {
    const std::vector<gpuslice::sim::ProcessUtilizationSample> samples =
        Library().state().ProcessUtilization(gpu, lastSeenTimeStamp);
    if (samples.empty()) return NVML_ERROR_NOT_FOUND;
    if (utilization == nullptr || *processSamplesCount < samples.size()) {
      *processSamplesCount = static_cast<unsigned int>(samples.size());
      return NVML_ERROR_INSUFFICIENT_SIZE;
    }
    for (size_t i = 0; i < samples.size(); ++i) {
      utilization[i] = nvmlProcessUtilizationSample_t{Library().ReportedPid(samples[i].pid),
                                                      samples[i].time_us,
                                                      samples[i].sm_util,
                                                      0,
                                                      0,
                                                      0};
    }
    *processSamplesCount = static_cast<unsigned int>(samples.size());
    return NVML_SUCCESS;
  });
}
