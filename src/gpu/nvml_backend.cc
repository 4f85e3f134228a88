#include "gpu/nvml_backend.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <fstream>

#include "gpu/internal/nvml_library.h"

namespace gpuslice::gpu {
namespace {

// NVML reports "00000000:3B:00.0"; sysfs names the device "0000:3b:00.0".
std::string SysfsPciName(const std::string& nvml_bus_id) {
  std::string name = nvml_bus_id.size() > 4 ? nvml_bus_id.substr(4) : nvml_bus_id;
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return name;
}

int ReadSysfsNumaNode(const std::string& sysfs_root, const std::string& bus_id) {
  std::ifstream file(sysfs_root + "/bus/pci/devices/" + SysfsPciName(bus_id) + "/numa_node");
  int node = -1;
  if (!(file >> node)) return -1;
  return node;
}

}  // namespace

Result<std::string> FindDriverLibrary(const std::string& root, std::string_view name) {
  // Debian and Ubuntu driver packages use the multiarch directories, RHEL and its kin lib64.
  static constexpr std::string_view kDirectories[] = {"usr/lib64",
                                                      "usr/lib/x86_64-linux-gnu",
                                                      "usr/lib/aarch64-linux-gnu",
                                                      "lib64",
                                                      "lib/x86_64-linux-gnu",
                                                      "lib/aarch64-linux-gnu",
                                                      "usr/lib",
                                                      "lib"};
  const std::string base = root.empty() || root.back() == '/' ? root : root + "/";
  std::string searched;
  for (std::string_view directory : kDirectories) {
    const std::string path = base + std::string(directory) + "/" + std::string(name);
    if (access(path.c_str(), R_OK) == 0) return path;
    searched += (searched.empty() ? "" : ", ") + std::string(directory);
  }
  return Status::NotFound(std::string(name) + " is not under the driver root " + root +
                          " (searched " + searched + ")");
}

Result<std::unique_ptr<NvmlBackend>> NvmlBackend::Create(const NvmlBackendOptions& options) {
  Result<std::unique_ptr<internal::NvmlLibrary>> library =
      internal::NvmlLibrary::Load(options.library);
  if (!library.ok()) return library.status();
  return std::unique_ptr<NvmlBackend>(new NvmlBackend(std::move(*library), options));
}

NvmlBackend::NvmlBackend(std::unique_ptr<internal::NvmlLibrary> library,
                         NvmlBackendOptions options)
    : nvml_(std::move(library)), options_(std::move(options)) {}

NvmlBackend::~NvmlBackend() {
  if (event_set_ != nullptr) nvml_->EventSetFree(static_cast<nvmlEventSet_t>(event_set_));
}

Result<Discovery> NvmlBackend::Discover() {
  unsigned int count = 0;
  nvmlReturn_t ret = nvml_->DeviceGetCount(&count);
  if (ret != NVML_SUCCESS) {
    return Status::Unavailable(nvml_->Describe("nvmlDeviceGetCount_v2", ret));
  }
  Discovery discovery;
  char driver[NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE] = {};
  if (nvml_->SystemGetDriverVersion != nullptr &&
      nvml_->SystemGetDriverVersion(driver, sizeof(driver)) == NVML_SUCCESS) {
    discovery.driver_version = driver;
  }
  int cuda = 0;
  if (nvml_->SystemGetCudaDriverVersion != nullptr &&
      nvml_->SystemGetCudaDriverVersion(&cuda) == NVML_SUCCESS) {
    discovery.cuda_driver_version = cuda;
  }
  for (unsigned int i = 0; i < count; ++i) {
    Result<core::GpuInfo> gpu = DescribeGpu(i);
    if (gpu.ok()) {
      discovery.gpus.push_back(std::move(*gpu));
    } else {
      discovery.failures.push_back(gpu.status().message());
    }
  }
  return discovery;
}

Result<core::GpuInfo> NvmlBackend::DescribeGpu(unsigned int i) {
  auto fail = [&](const char* function, nvmlReturn_t r) {
    return Status::Unavailable("GPU " + std::to_string(i) + ": " + nvml_->Describe(function, r));
  };
  nvmlReturn_t ret = NVML_SUCCESS;
  nvmlDevice_t device = nullptr;
  if ((ret = nvml_->DeviceGetHandleByIndex(i, &device)) != NVML_SUCCESS) {
    return fail("nvmlDeviceGetHandleByIndex_v2", ret);
  }
  core::GpuInfo gpu;
  gpu.index = static_cast<int>(i);
  char text[NVML_DEVICE_UUID_V2_BUFFER_SIZE] = {};
  if ((ret = nvml_->DeviceGetUUID(device, text, sizeof(text))) != NVML_SUCCESS) {
    return fail("nvmlDeviceGetUUID", ret);
  }
  gpu.uuid = text;
  char name[NVML_DEVICE_NAME_V2_BUFFER_SIZE] = {};
  if ((ret = nvml_->DeviceGetName(device, name, sizeof(name))) != NVML_SUCCESS) {
    return fail("nvmlDeviceGetName", ret);
  }
  gpu.name = name;
  nvmlMemory_t memory = {};
  if ((ret = nvml_->DeviceGetMemoryInfo(device, &memory)) != NVML_SUCCESS) {
    return fail("nvmlDeviceGetMemoryInfo", ret);
  }
  gpu.memory_bytes = memory.total;
  unsigned int minor = 0;
  if (nvml_->DeviceGetMinorNumber(device, &minor) == NVML_SUCCESS) {
    gpu.minor = static_cast<int>(minor);
  }
  nvmlPciInfo_t pci = {};
  if (nvml_->DeviceGetPciInfo(device, &pci) == NVML_SUCCESS) gpu.pci_bus_id = pci.busId;
  unsigned int numa = 0;
  if (nvml_->DeviceGetNumaNodeId != nullptr &&
      nvml_->DeviceGetNumaNodeId(device, &numa) == NVML_SUCCESS) {
    gpu.numa_node = static_cast<int>(numa);
  } else if (!gpu.pci_bus_id.empty()) {
    gpu.numa_node = ReadSysfsNumaNode(options_.sysfs_root, gpu.pci_bus_id);
  }
  int major = 0, minor_version = 0;
  if (nvml_->DeviceGetCudaComputeCapability != nullptr &&
      nvml_->DeviceGetCudaComputeCapability(device, &major, &minor_version) == NVML_SUCCESS) {
    gpu.compute_major = major;
    gpu.compute_minor = minor_version;
  }
  // NOT_SUPPORTED on GPUs without MIG: they are whole GPUs.
  unsigned int mig_current = NVML_DEVICE_MIG_DISABLE, mig_pending = NVML_DEVICE_MIG_DISABLE;
  if (nvml_->DeviceGetMigMode != nullptr &&
      nvml_->DeviceGetMigMode(device, &mig_current, &mig_pending) == NVML_SUCCESS) {
    gpu.mig_enabled = mig_current == NVML_DEVICE_MIG_ENABLE;
  }
  return gpu;
}

Status NvmlBackend::EnsureEventSet() {
  std::lock_guard<std::mutex> lock(event_mutex_);
  if (event_set_ != nullptr) return Status::Ok();
  if (events_unsupported_) return Status::Unavailable("XID events are not supported");
  nvmlEventSet_t set = nullptr;
  nvmlReturn_t ret = nvml_->EventSetCreate(&set);
  if (ret != NVML_SUCCESS) {
    events_unsupported_ = true;
    return Status::Unavailable(nvml_->Describe("nvmlEventSetCreate", ret));
  }
  unsigned int count = 0;
  if ((ret = nvml_->DeviceGetCount(&count)) != NVML_SUCCESS) {
    nvml_->EventSetFree(set);
    return Status::Unavailable(nvml_->Describe("nvmlDeviceGetCount_v2", ret));
  }
  int registered = 0;
  for (unsigned int i = 0; i < count; ++i) {
    nvmlDevice_t device = nullptr;
    unsigned long long supported = 0;
    if (nvml_->DeviceGetHandleByIndex(i, &device) != NVML_SUCCESS ||
        nvml_->DeviceGetSupportedEventTypes(device, &supported) != NVML_SUCCESS ||
        (supported & nvmlEventTypeXidCriticalError) == 0) {
      continue;  // such a GPU is still health-checked by CheckGpu polling
    }
    char uuid[NVML_DEVICE_UUID_V2_BUFFER_SIZE] = {};
    if (nvml_->DeviceGetUUID(device, uuid, sizeof(uuid)) == NVML_SUCCESS &&
        nvml_->DeviceRegisterEvents(device, nvmlEventTypeXidCriticalError, set) == NVML_SUCCESS) {
      event_devices_[device] = uuid;
      ++registered;
    }
  }
  if (registered == 0 && count > 0) {
    nvml_->EventSetFree(set);
    events_unsupported_ = true;
    return Status::Unavailable("no GPU supports XID events");
  }
  event_set_ = set;
  return Status::Ok();
}

Result<XidEvent> NvmlBackend::WaitForXid(std::chrono::milliseconds timeout) {
  GPUSLICE_RETURN_IF_ERROR(EnsureEventSet());
  nvmlEventData_t data = {};
  const auto millis = static_cast<unsigned int>(std::max<int64_t>(0, timeout.count()));
  const nvmlReturn_t ret =
      nvml_->EventSetWait(static_cast<nvmlEventSet_t>(event_set_), &data, millis);
  if (ret == NVML_ERROR_TIMEOUT) return Status::DeadlineExceeded("no XID event");
  if (ret != NVML_SUCCESS && ret != NVML_ERROR_GPU_IS_LOST) {
    return Status::Unavailable(nvml_->Describe("nvmlEventSetWait_v2", ret));
  }
  XidEvent event;
  if (ret == NVML_SUCCESS) event.xid = static_cast<int>(data.eventData);
  // The UUID comes from the registration, not from a query: a lost GPU answers no queries.
  // An event NVML does not attribute to a GPU leaves gpu_uuid empty: every GPU is suspect.
  if (auto it = event_devices_.find(data.device); it != event_devices_.end()) {
    event.gpu_uuid = it->second;
  }
  return event;
}

Status NvmlBackend::CheckGpu(const std::string& uuid) {
  nvmlDevice_t device = nullptr;
  nvmlReturn_t ret = nvml_->DeviceGetHandleByUUID(uuid.c_str(), &device);
  if (ret != NVML_SUCCESS) {
    return Status::Unavailable(uuid + ": " + nvml_->Describe("nvmlDeviceGetHandleByUUID", ret));
  }
  nvmlMemory_t memory = {};
  ret = nvml_->DeviceGetMemoryInfo(device, &memory);
  if (ret != NVML_SUCCESS) {
    return Status::Unavailable(uuid + ": " + nvml_->Describe("nvmlDeviceGetMemoryInfo", ret));
  }
  return Status::Ok();
}

Result<std::vector<ProcessUtilizationSample>> NvmlBackend::ProcessUtilization(
    const std::string& uuid, uint64_t after_us) {
  if (nvml_->DeviceGetProcessUtilization == nullptr) {
    return Status::FailedPrecondition("NVML lacks nvmlDeviceGetProcessUtilization");
  }
  nvmlDevice_t device = nullptr;
  nvmlReturn_t ret = nvml_->DeviceGetHandleByUUID(uuid.c_str(), &device);
  if (ret != NVML_SUCCESS) {
    return Status::Unavailable(uuid + ": " + nvml_->Describe("nvmlDeviceGetHandleByUUID", ret));
  }
  std::vector<nvmlProcessUtilizationSample_t> samples;
  // The count can grow between the sizing call and the filling one; a few tries absorb that.
  for (int attempt = 0; attempt < 3; ++attempt) {
    unsigned int count = static_cast<unsigned int>(samples.size());
    ret = nvml_->DeviceGetProcessUtilization(device, samples.empty() ? nullptr : samples.data(),
                                             &count, after_us);
    // NVML answers NOT_FOUND when no process ran since `after_us`.
    if (ret == NVML_ERROR_NOT_FOUND || (ret == NVML_SUCCESS && count == 0)) {
      return std::vector<ProcessUtilizationSample>{};
    }
    if (ret == NVML_ERROR_NOT_SUPPORTED) {
      return Status::FailedPrecondition(uuid + ": " +
                                        nvml_->Describe("nvmlDeviceGetProcessUtilization", ret));
    }
    if (ret == NVML_SUCCESS && !samples.empty()) {
      std::vector<ProcessUtilizationSample> out;
      out.reserve(count);
      for (unsigned int i = 0; i < count && i < samples.size(); ++i) {
        out.push_back({samples[i].pid, samples[i].timeStamp, std::min(samples[i].smUtil, 100u)});
      }
      return out;
    }
    if (ret != NVML_SUCCESS && ret != NVML_ERROR_INSUFFICIENT_SIZE) break;
    samples.resize(count + 8);
  }
  return Status::Unavailable(uuid + ": " + nvml_->Describe("nvmlDeviceGetProcessUtilization", ret));
}

}  // namespace gpuslice::gpu
