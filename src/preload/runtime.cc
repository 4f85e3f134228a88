#include "preload/runtime.h"

#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>

#include "core/abi/cuda.h"
#include "core/abi/gpu_uuid.h"
#include "preload/busy_source.h"
#include "preload/clock.h"
#include "preload/internal/driver.h"
#include "preload/internal/region_file.h"
#include "preload/process_usage.h"

namespace gpuslice::preload {

void Warn(const std::string& message) { std::fprintf(stderr, "gpuslice: %s\n", message.c_str()); }

namespace {

using internal::DriverFunction;

// How often the watcher charges measured GPU time and refills credit.
constexpr uint64_t kWatchPeriodNanos = 2'000'000;

void InChildAfterFork() { Runtime::Get().AfterForkInChild(); }

// The graph memory pool of CUDA device `device`, as the driver reports it.
std::optional<GraphMemory::PoolUsage> DeviceGraphPool(CUdevice device) {
  static const auto get =
      DriverFunction<decltype(&cuDeviceGetGraphMemAttribute)>("cuDeviceGetGraphMemAttribute");
  cuuint64_t reserved = 0;
  cuuint64_t used = 0;
  if (get == nullptr ||
      get(device, CU_GRAPH_MEM_ATTR_RESERVED_MEM_CURRENT, &reserved) != CUDA_SUCCESS ||
      get(device, CU_GRAPH_MEM_ATTR_USED_MEM_CURRENT, &used) != CUDA_SUCCESS) {
    return std::nullopt;
  }
  return GraphMemory::PoolUsage{reserved, used};
}

// The whole of a small file, or the OS error (NotFound when it does not exist). Plain reads:
// iostreams would cost every process their initialization at load. A file longer than `max`
// bytes comes back cut at max + 1 bytes, for the parser to refuse.
Result<std::string> ReadSmallFile(const char* path, size_t max, int flags) {
  const int fd = open(path, O_RDONLY | O_CLOEXEC | flags);
  if (fd < 0) {
    const int saved = errno;
    std::string message = std::string("cannot open ") + path + ": " + strerror(saved);
    if (saved == ENOENT || saved == ENOTDIR) return Status::NotFound(std::move(message));
    return Status::FailedPrecondition(std::move(message));
  }
  std::string contents;
  char buffer[4096];
  ssize_t length = 0;
  while (contents.size() <= max && (length = read(fd, buffer, sizeof(buffer))) != 0) {
    if (length < 0) {
      if (errno == EINTR) continue;
      const int saved = errno;
      close(fd);
      return Status::FailedPrecondition(std::string("cannot read ") + path + ": " +
                                        strerror(saved));
    }
    contents.append(buffer, static_cast<size_t>(length));
  }
  close(fd);
  if (contents.size() > max) contents.resize(max + 1);
  return contents;
}

// The environment of the container's first process, or an empty one when it cannot be read.
std::string InitProcessEnvironment() {
  return ReadSmallFile("/proc/1/environ", 1 << 20, 0).value_or("");
}

// This process's environment in the form /proc/<pid>/environ has.
std::string OwnEnvironment() {
  std::string block;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    block += *entry;
    block += '\0';
  }
  return block;
}

// The container's limits file: nullopt where there is none (outside Kubernetes); an error
// where one is there but cannot be read, which fails closed.
Result<std::optional<std::string>> ReadLimitsFile() {
  const std::string path(core::contract::kContainerLimitsFile);
  // Not a symlink: the plugin's mount is a plain file, and a link would point elsewhere.
  Result<std::string> contents =
      ReadSmallFile(path.c_str(), core::contract::kMaxLimitsFileBytes, O_NOFOLLOW);
  if (contents.ok()) return std::optional<std::string>(std::move(*contents));
  if (contents.status().code() == StatusCode::kNotFound) return std::optional<std::string>();
  return contents.status();
}

}  // namespace

Runtime* Runtime::Create() {
  std::string environment = OwnEnvironment();
  // A process that reset its environment takes the container's (see ParseOptions).
  if (!HasGpusliceVariables(environment)) {
    std::string init = InitProcessEnvironment();
    if (HasGpusliceVariables(init)) environment = std::move(init);
  }
  std::vector<std::string> messages;
  Result<Options> options = Status::Internal("not parsed");
  if (Result<std::optional<std::string>> file = ReadLimitsFile(); !file.ok()) {
    options = file.status();
  } else {
    std::optional<std::string_view> text;
    if (file->has_value()) text = **file;
    options = ParseOptions(environment, text, &messages);
  }
  if (!options.ok()) {
    messages.push_back(options.status().message() + "; every GPU gets a zero memory limit");
    options = FailClosedOptions();
  }
  auto* runtime = new Runtime(std::move(*options), std::move(messages));
  if (runtime->enforcing()) {
    pthread_atfork(nullptr, nullptr, InChildAfterFork);
  } else {
    // No hook will ask for a GPU's slice, so there is no first use to wait for.
    runtime->SayLoadMessages();
  }
  return runtime;
}

Runtime::Runtime(Options options, std::vector<std::string> load_messages)
    : options_(std::move(options)),
      load_messages_(std::move(load_messages)),
      allocations_(new AllocationMap()),
      physical_handles_(new PhysicalHandles()),
      pool_charges_(new PoolCharges()),
      graph_memory_(new GraphMemory(DeviceGraphPool)),
      overhead_(new DriverOverhead(SystemClock())) {
  for (std::atomic<int>& slice : slice_of_device_)
    slice.store(kUnresolved, std::memory_order_relaxed);
  if (!options_.enforce) return;
  for (int i = 0; i < options_.device_count; ++i) {
    if (options_.devices[i].compute_percent < kUnlimitedComputePercent) {
      throttled_[throttled_count_++] = i;
    }
  }
  throttling_ = throttled_count_ > 0;
}

void Runtime::SayLoadMessages() {
  if (load_messages_.empty() || load_messages_said_.exchange(true, std::memory_order_acq_rel)) {
    return;
  }
  for (const std::string& message : load_messages_) Warn(message);
}

core::region::Region* Runtime::Region() {
  if (core::region::Region* region = region_.load(std::memory_order_acquire)) return region;
  static std::mutex mutex;
  std::lock_guard<std::mutex> guard(mutex);
  if (core::region::Region* region = region_.load(std::memory_order_relaxed)) return region;

  SayLoadMessages();
  Result<internal::RegionMapping> mapping = Status::NotFound("no region");
  bool refuse_all = false;
  if (!options_.region_path.empty()) {
    mapping = internal::RegionMapping::MapShared(options_.region_path);
    if (!mapping.ok() && options_.region_required) {
      // The plugin made this region for the container: without it the container's processes
      // could each take the whole limit.
      Warn(mapping.status().message() + "; every allocation on this container's GPUs is refused");
      refuse_all = true;
    } else if (!mapping.ok()) {
      Warn(mapping.status().message() +
           "; limits hold for this process alone, not with the container's other processes");
    }
  }
  if (!mapping.ok()) mapping = internal::RegionMapping::MapPrivate();
  if (!mapping.ok()) {
    Warn(mapping.status().message());
    std::abort();
  }
  // Kept for the life of the process, like the Runtime.
  auto* kept = new internal::RegionMapping(std::move(*mapping));
  throttle_ = new ComputeThrottle(kept->region(), options_, SystemClock());
  auto* ledger = new MemoryLedger(kept->region(), options_);
  refuse_all_ = refuse_all;
  if (refuse_all_) ledger->RefuseAll();
  if (Status attached = ledger->Attach(); !attached.ok()) {
    Warn(attached.message() + ": this process's allocations on sliced GPUs are refused");
  }
  ledger_.store(ledger, std::memory_order_release);
  region_.store(kept->region(), std::memory_order_release);
  return kept->region();
}

MemoryLedger& Runtime::ledger() {
  Region();
  return *ledger_.load(std::memory_order_acquire);
}

void Runtime::SetNvmlPid(unsigned int pid) {
  nvml_pid_.store(pid, std::memory_order_release);
  ledger().PublishNvmlPid(pid);
}

void Runtime::AfterForkInChild() {
  // The parent's objects may be mid-use by threads that do not exist here: start afresh and
  // let the old ones go.
  allocations_.store(new AllocationMap(), std::memory_order_release);
  physical_handles_.store(new PhysicalHandles(), std::memory_order_release);
  pool_charges_.store(new PoolCharges(), std::memory_order_release);
  graph_memory_.store(new GraphMemory(DeviceGraphPool), std::memory_order_release);
  overhead_.store(new DriverOverhead(SystemClock()), std::memory_order_release);
  if (core::region::Region* region = region_.load(std::memory_order_acquire)) {
    auto* ledger = new MemoryLedger(region, options_);
    if (refuse_all_) ledger->RefuseAll();
    ledger_.store(ledger, std::memory_order_release);
  }
  watcher_started_.store(false, std::memory_order_relaxed);
  watcher_in_tick_.store(false, std::memory_order_relaxed);
  nvml_pid_.store(0, std::memory_order_relaxed);
  for (std::atomic<uint64_t>& at : reported_at_) at.store(0, std::memory_order_relaxed);
  // Calls the parent's other threads had under way never end here.
  for (CallCounters& shard : calls_) {
    shard.allocated_begun.store(0, std::memory_order_relaxed);
    shard.allocated_ended.store(0, std::memory_order_relaxed);
    shard.frees_begun.store(0, std::memory_order_relaxed);
    shard.frees_ended.store(0, std::memory_order_relaxed);
  }
}

int Runtime::SliceOfDevice(CUdevice device) {
  if (!options_.enforce || device < 0) return -1;
  if (device < kMaxCudaDevices) {
    const int cached = slice_of_device_[device].load(std::memory_order_relaxed);
    if (cached != kUnresolved) return cached;
  }
  SayLoadMessages();
  const int slice = ResolveCudaDevice(device);
  if (device < kMaxCudaDevices) slice_of_device_[device].store(slice, std::memory_order_relaxed);
  if (slice == kUnlistedSlice) ReportUnlistedCudaDevices();
  return slice;
}

int Runtime::ResolveCudaDevice(CUdevice device) const {
  if (!options_.HasUuids()) return device < options_.device_count ? device : kUnlistedSlice;
  static const auto get_uuid = DriverFunction<decltype(&cuDeviceGetUuid_v2)>("cuDeviceGetUuid_v2");
  CUuuid uuid{};
  // A GPU whose UUID cannot be had cannot be told from a neighbour's: it gets no memory.
  if (get_uuid == nullptr || get_uuid(&uuid, device) != CUDA_SUCCESS) return kUnlistedSlice;
  const int slice = options_.IndexOfUuid(core::FormatGpuUuid(uuid.bytes));
  return slice >= 0 ? slice : kUnlistedSlice;
}

void Runtime::ReportUnlistedCudaDevices() {
  if (cuda_unlisted_reported_.exchange(true, std::memory_order_acq_rel)) return;
  static const auto get_count = DriverFunction<decltype(&cuDeviceGetCount)>("cuDeviceGetCount");
  static const auto get_uuid = DriverFunction<decltype(&cuDeviceGetUuid_v2)>("cuDeviceGetUuid_v2");
  int count = 0;
  if (get_count == nullptr || get_count(&count) != CUDA_SUCCESS) count = 0;
  std::vector<std::pair<std::string, std::string>> unlisted;
  for (CUdevice device = 0; device < count; ++device) {
    if (ResolveCudaDevice(device) != kUnlistedSlice) continue;
    CUuuid uuid{};
    const bool known = get_uuid != nullptr && get_uuid(&uuid, device) == CUDA_SUCCESS;
    const std::string name = known ? core::FormatGpuUuid(uuid.bytes) : "CUDA device " + std::to_string(device);
    unlisted.emplace_back(name, "CUDA device " + std::to_string(device) + " (" +
                                    (known ? name : "UUID unknown") + ")");
  }
  ReportUnlisted("CUDA", unlisted);
}

void Runtime::ReportUnlisted(const std::string& seen_by,
                             const std::vector<std::pair<std::string, std::string>>& names) {
  std::string listed;
  {
    std::lock_guard<std::mutex> guard(reported_mutex_);
    for (const auto& [key, description] : names) {
      if (!reported_unlisted_.insert(key).second) continue;
      listed += (listed.empty() ? "" : ", ") + description;
    }
  }
  if (listed.empty()) return;
  std::string limited;
  for (int i = 0; i < options_.device_count; ++i) {
    limited +=
        (i == 0 ? "" : ", ") + (options_.devices[i].uuid.empty() ? "device " + std::to_string(i)
                                                                 : options_.devices[i].uuid);
  }
  Warn(seen_by + " shows GPUs that " + options_.source + " gives no limit (it limits " +
       (limited.empty() ? std::string("none") : limited) + "): " + listed +
       "; they get a zero memory limit");
}

int Runtime::SliceOfCurrentContext() {
  static const auto get_device = DriverFunction<decltype(&cuCtxGetDevice)>("cuCtxGetDevice");
  CUdevice device = -1;
  if (get_device == nullptr || get_device(&device) != CUDA_SUCCESS) return -1;
  return SliceOfDevice(device);
}

CUdevice Runtime::DeviceOfStream(CUstream stream) {
  CUdevice device = -1;
  if (stream != nullptr && stream != CU_STREAM_LEGACY && stream != CU_STREAM_PER_THREAD) {
    static const auto stream_device =
        DriverFunction<decltype(&cuStreamGetDevice)>("cuStreamGetDevice");
    if (stream_device != nullptr && stream_device(stream, &device) == CUDA_SUCCESS) return device;
  }
  static const auto context_device = DriverFunction<decltype(&cuCtxGetDevice)>("cuCtxGetDevice");
  if (context_device == nullptr || context_device(&device) != CUDA_SUCCESS) return -1;
  return device;
}

int Runtime::SliceOfStream(CUstream stream) {
  const CUdevice device = DeviceOfStream(stream);
  return device < 0 ? -1 : SliceOfDevice(device);
}

int Runtime::SliceOfNvmlDevice(nvmlDevice_t device) {
  if (!options_.enforce) return -1;
  SayLoadMessages();
  const int slice = ResolveNvmlDevice(device);
  if (slice == kUnlistedSlice) ReportUnlistedNvmlDevices();
  return slice;
}

int Runtime::ResolveNvmlDevice(nvmlDevice_t device) const {
  if (options_.HasUuids()) {
    static const auto get_uuid = DriverFunction<decltype(&nvmlDeviceGetUUID)>("nvmlDeviceGetUUID");
    char uuid[NVML_DEVICE_UUID_V2_BUFFER_SIZE] = {};
    if (get_uuid == nullptr || get_uuid(device, uuid, sizeof(uuid)) != NVML_SUCCESS) {
      return kUnlistedSlice;
    }
    const int slice = options_.IndexOfUuid(uuid);
    return slice >= 0 ? slice : kUnlistedSlice;
  }
  static const auto by_index =
      DriverFunction<decltype(&nvmlDeviceGetHandleByIndex_v2)>("nvmlDeviceGetHandleByIndex_v2");
  for (int i = 0; by_index != nullptr && i < options_.device_count; ++i) {
    nvmlDevice_t candidate = nullptr;
    if (by_index(static_cast<unsigned int>(i), &candidate) == NVML_SUCCESS && candidate == device) {
      return i;
    }
  }
  return kUnlistedSlice;
}

void Runtime::ReportUnlistedNvmlDevices() {
  if (nvml_unlisted_reported_.exchange(true, std::memory_order_acq_rel)) return;
  static const auto get_count =
      DriverFunction<decltype(&nvmlDeviceGetCount_v2)>("nvmlDeviceGetCount_v2");
  static const auto by_index =
      DriverFunction<decltype(&nvmlDeviceGetHandleByIndex_v2)>("nvmlDeviceGetHandleByIndex_v2");
  static const auto get_uuid = DriverFunction<decltype(&nvmlDeviceGetUUID)>("nvmlDeviceGetUUID");
  unsigned int count = 0;
  if (get_count == nullptr || by_index == nullptr || get_count(&count) != NVML_SUCCESS) count = 0;
  std::vector<std::pair<std::string, std::string>> unlisted;
  for (unsigned int i = 0; i < count; ++i) {
    nvmlDevice_t device = nullptr;
    if (by_index(i, &device) != NVML_SUCCESS || ResolveNvmlDevice(device) != kUnlistedSlice) {
      continue;
    }
    char uuid[NVML_DEVICE_UUID_V2_BUFFER_SIZE] = {};
    const bool known = get_uuid != nullptr && get_uuid(device, uuid, sizeof(uuid)) == NVML_SUCCESS;
    const std::string name = known ? std::string(uuid) : "NVML device " + std::to_string(i);
    unlisted.emplace_back(
        name, "NVML device " + std::to_string(i) + " (" + (known ? name : "UUID unknown") + ")");
  }
  ReportUnlisted("NVML", unlisted);
}

std::optional<uint64_t> Runtime::Reconcile(int slice, uint64_t report_age_nanos) {
  static ProcessUsage* const usage = MakeNvmlProcessUsage(options_).release();
  MemoryLedger& memory = ledger();
  std::optional<uint64_t> raised;
  pool_charges().WhileSettled(*this, [&] {
    graph_memory().Settle(memory, slice);
    const unsigned int pid = nvml_pid();
    if (pid == 0) return;
    const uint64_t now = SystemClock().NowNanos();
    if (report_age_nanos > 0 &&
        now - reported_at_[slice].load(std::memory_order_relaxed) < report_age_nanos) {
      return;
    }
    reported_at_[slice].store(now, std::memory_order_relaxed);
    raised = overhead().Update(
        memory, slice,
        DriverOverhead::Sources{
            [&] { return usage->UsedBytes(slice, pid); }, [this] { return CountDriverCalls(); },
            [&] {
              return graph_memory().Uncounted(slice) + physical_handles().ImportCharges(slice);
            }});
  });
  return raised;
}

DriverOverhead::Calls Runtime::CountDriverCalls() const {
  // Each call counts on one shard, its end after its beginning: reading a shard's ends first,
  // a call can look under way when it is not, never the other way round.
  DriverOverhead::Calls calls;
  for (const CallCounters& shard : calls_) {
    calls.allocated_ended += shard.allocated_ended.load(std::memory_order_seq_cst);
    calls.frees_ended += shard.frees_ended.load(std::memory_order_seq_cst);
    calls.allocated_begun += shard.allocated_begun.load(std::memory_order_seq_cst);
    calls.frees_begun += shard.frees_begun.load(std::memory_order_seq_cst);
  }
  return calls;
}

void Runtime::StartWatcher() {
  if (!options_.enforce) return;
  Region();
  if (!watcher_started_.exchange(true, std::memory_order_acq_rel)) StartWatcherThread();
}

void Runtime::WaitToLaunch(CUstream stream) {
  StartWatcher();
  const int slice = SliceOfStream(stream);
  if (slice < 0 || !throttle_->Enforced(slice) || throttle_->HasCredit(slice)) return;
  // Counted only here, where the launch waits: a launch with credit stays one load.
  const uint64_t waited = throttle_->WaitForCredit(slice);
  ledger().AddThrottled(slice, waited);
}

void Runtime::StartWatcherThread() {
  pthread_t thread;
  pthread_attr_t attributes;
  pthread_attr_init(&attributes);
  pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
  const int failed = pthread_create(
      &thread, &attributes,
      [](void* self) -> void* {
        static_cast<Runtime*>(self)->Watch();
        return nullptr;
      },
      this);
  pthread_attr_destroy(&attributes);
  if (failed != 0) {
    Warn(
        "cannot start the watcher thread: compute shares are not held, and memory the driver "
        "takes on its own is charged only when a call of this process looks");
    return;
  }
  std::atexit(StopWatcherAtExit);
}

void Runtime::StopWatcherAtExit() {
  Runtime& runtime = Get();
  runtime.watcher_stopping_.store(true, std::memory_order_seq_cst);
  // A tick takes microseconds; the bound only guards against a driver that hangs.
  Clock& clock = SystemClock();
  for (int i = 0; i < 1000 && runtime.watcher_in_tick_.load(std::memory_order_seq_cst); ++i) {
    clock.SleepFor(100'000);
  }
}

void Runtime::Watch() {
  std::unique_ptr<BusySource> source = throttling_ ? MakeNvmlBusySource(options_) : nullptr;
  if (throttling_ && source == nullptr) {
    Warn("NVML cannot report this process's GPU time: compute shares are not held");
  }
  Clock& clock = SystemClock();
  uint64_t next_reconcile = 0;
  for (;;) {
    watcher_in_tick_.store(true, std::memory_order_seq_cst);
    if (watcher_stopping_.load(std::memory_order_seq_cst)) {
      watcher_in_tick_.store(false, std::memory_order_seq_cst);
      return;
    }
    for (int i = 0; source != nullptr && i < throttled_count_; ++i) {
      const int slice = throttled_[i];
      const uint64_t busy = source->TakeBusyNanos(slice, nvml_pid());
      throttle_->Charge(slice, busy);
      ledger().AddBusy(slice, busy);
      throttle_->Refill(slice);
    }
    const uint64_t now = clock.NowNanos();
    if (now >= next_reconcile) {
      next_reconcile = now + kReconcilePeriodNanos;
      for (int slice = 0; slice < options_.device_count; ++slice) {
        Reconcile(slice);
        ledger().ReturnIdleReserve(slice);
      }
    }
    watcher_in_tick_.store(false, std::memory_order_seq_cst);
    clock.SleepFor(source != nullptr ? kWatchPeriodNanos : kReconcilePeriodNanos);
  }
}

}  // namespace gpuslice::preload

namespace gpuslice::preload {
namespace {

// Decides the options while the library loads, before the application can change its
// environment.
[[gnu::constructor(102)]] void ReadEnvironmentAtLoad() { Runtime::Get(); }

}  // namespace
}  // namespace gpuslice::preload
