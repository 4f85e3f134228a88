#include "sim/cuda/driver.h"

#include <pthread.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string_view>

#include "sim/cuda/resources.h"
#include "sim/environment.h"
#include "sim/internal/clock.h"

namespace gpuslice::sim::cuda {
namespace {

// Applies CUDA_VISIBLE_DEVICES like the real driver: a comma-separated list of ordinals (into
// the devices the container shows) or GPU UUIDs (or unique UUID prefixes); the list ends at
// the first entry that names no device.
std::vector<int> ApplyCudaVisibleDevices(const SimState& state, const std::vector<int>& visible,
                                         const char* value) {
  if (value == nullptr) return visible;
  std::vector<int> selected;
  std::string_view list = value;
  size_t start = 0;
  while (start <= list.size()) {
    const size_t comma = list.find(',', start);
    std::string_view entry = list.substr(start, comma - start);
    while (!entry.empty() && entry.front() == ' ') entry.remove_prefix(1);
    while (!entry.empty() && entry.back() == ' ') entry.remove_suffix(1);
    int gpu = -1;
    int ordinal = -1;
    const auto [end, error] = std::from_chars(entry.data(), entry.data() + entry.size(), ordinal);
    if (!entry.empty() && error == std::errc() && end == entry.data() + entry.size()) {
      if (ordinal >= 0 && ordinal < static_cast<int>(visible.size())) {
        gpu = visible[static_cast<size_t>(ordinal)];
      }
    } else if (entry.size() > 4 && entry.substr(0, 4) == "GPU-") {
      for (int candidate : visible) {
        if (state.gpu(candidate).uuid.compare(0, entry.size(), entry) == 0) {
          gpu = gpu < 0 ? candidate : -2;  // -2: the prefix is ambiguous
        }
      }
    }
    if (gpu < 0 || std::find(selected.begin(), selected.end(), gpu) != selected.end()) break;
    selected.push_back(gpu);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return selected;
}

void AtomicMax(std::atomic<uint64_t>& value, uint64_t candidate) {
  uint64_t current = value.load(std::memory_order_relaxed);
  while (current < candidate &&
         !value.compare_exchange_weak(current, candidate, std::memory_order_relaxed)) {
  }
}

thread_local std::vector<CUctx_st*> context_stack;
thread_local std::map<CUctx_st*, std::unique_ptr<CUstream_st>> per_thread_streams;

}  // namespace

Driver& Driver::Get() {
  static Driver* driver = new Driver();
  return *driver;
}

CUresult Driver::Init() {
  std::lock_guard<std::mutex> lock(init_mutex_);
  if (forked_.load()) return CUDA_ERROR_NOT_INITIALIZED;
  if (initialized_.load()) return CUDA_SUCCESS;
  auto fail = [&](const std::string& reason) {
    if (reason != logged_error_) {
      std::fprintf(stderr, "gpuslice-sim-cuda: cuInit failed: %s\n", reason.c_str());
      logged_error_ = reason;
    }
    return CUDA_ERROR_NO_DEVICE;
  };
  Result<OpenedState> opened = OpenStateFromEnvironment();
  if (!opened.ok()) return fail(opened.status().message());
  if (!opened->warning.empty())
    std::fprintf(stderr, "gpuslice-sim-cuda: %s\n", opened->warning.c_str());
  const std::optional<std::string> visible_devices = ContainerVisibleDevices();
  const char* container_devices = visible_devices ? visible_devices->c_str() : nullptr;
  Result<std::vector<int>> visible = VisibleGpus(*opened->state, container_devices);
  if (!visible.ok()) return fail(visible.status().message());
  const char* cuda_devices = std::getenv("CUDA_VISIBLE_DEVICES");
  std::vector<int> devices = ApplyCudaVisibleDevices(*opened->state, *visible, cuda_devices);
  if (devices.empty()) {
    return fail(std::string("no simulated GPU is visible to this process (") +
                std::string(kVisibleDevicesEnv) + "=" +
                (container_devices ? container_devices : "<unset>") +
                ", CUDA_VISIBLE_DEVICES=" + (cuda_devices ? cuda_devices : "<unset>") + ")");
  }
  Result<std::unique_ptr<ProcessAccount>> account = ProcessAccount::Register(opened->state.get());
  if (!account.ok()) return fail(account.status().message());
  state_ = std::move(opened->state);
  account_ = std::move(*account);
  visible_ = std::move(devices);
  primaries_.resize(visible_.size());
  const char* loading = std::getenv("CUDA_MODULE_LOADING");
  eager_module_loading_ = loading != nullptr && std::string_view(loading) == "EAGER";
  pthread_atfork(nullptr, nullptr, &Driver::OnForkChild);
  initialized_.store(true, std::memory_order_release);
  return CUDA_SUCCESS;
}

void Driver::OnForkChild() {
  // Like the real driver, a child forked after cuInit cannot use CUDA; its parent keeps its
  // slot in the shared state.
  Driver& driver = Get();
  driver.forked_.store(true);
  if (driver.account_ != nullptr) driver.account_->AbandonAfterFork();
}

CUresult Driver::CheckInitialized() const {
  if (!initialized_.load(std::memory_order_acquire) || forked_.load(std::memory_order_relaxed)) {
    return CUDA_ERROR_NOT_INITIALIZED;
  }
  return CUDA_SUCCESS;
}

CUresult Driver::CheckDevice(CUdevice device) const {
  return device >= 0 && device < device_count() ? CUDA_SUCCESS : CUDA_ERROR_INVALID_DEVICE;
}

CUctx_st* Driver::Current() const { return context_stack.empty() ? nullptr : context_stack.back(); }

void Driver::SetCurrent(CUctx_st* ctx) {
  if (ctx == nullptr) {
    if (!context_stack.empty()) context_stack.pop_back();
  } else if (context_stack.empty()) {
    context_stack.push_back(ctx);
  } else {
    context_stack.back() = ctx;
  }
}

void Driver::Push(CUctx_st* ctx) { context_stack.push_back(ctx); }

CUctx_st* Driver::Pop() {
  if (context_stack.empty()) return nullptr;
  CUctx_st* ctx = context_stack.back();
  context_stack.pop_back();
  return ctx;
}

CUresult Driver::CheckContext(CUctx_st* ctx) const {
  return ctx != nullptr && contexts.Contains(ctx) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_CONTEXT;
}

CUresult Driver::RequireCurrent(CUctx_st** ctx) const {
  CUctx_st* current = Current();
  if (CheckContext(current) != CUDA_SUCCESS) return CUDA_ERROR_INVALID_CONTEXT;
  *ctx = current;
  return CUDA_SUCCESS;
}

CUresult Driver::CreateContext(CUdevice device, unsigned int flags, bool primary, CUctx_st** ctx) {
  const int gpu = GpuOf(device);
  if (IsLost(gpu)) return CUDA_ERROR_DEVICE_UNAVAILABLE;
  const uint64_t context_bytes = Spec(gpu).context_memory_bytes;
  if (context_bytes > 0 && !account_->Reserve(gpu, context_bytes).ok()) {
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  account_->AddContext(gpu);
  CUctx_st* context = primary ? primaries_[static_cast<size_t>(device)].ctx.get() : nullptr;
  if (context == nullptr) {
    context = new CUctx_st();
    if (primary) primaries_[static_cast<size_t>(device)].ctx.reset(context);
  }
  context->device = device;
  context->gpu = gpu;
  context->flags = flags;
  context->primary = primary;
  context->id = NextId();
  context->tail_ns.store(0);
  context->legacy_stream = std::make_unique<CUstream_st>();
  context->legacy_stream->ctx = context;
  context->legacy_stream->implicit = true;
  context->legacy_stream->id = NextId();
  DefaultLimits(Spec(gpu), context->limits);
  context->limit_bytes = 0;
  context->cache_config = CU_FUNC_CACHE_PREFER_NONE;
  contexts.Add(context);
  *ctx = context;
  return CUDA_SUCCESS;
}

void Driver::DestroyContext(CUctx_st* ctx) {
  if (!contexts.Remove(ctx)) return;
  ReleaseContextResources(*this, ctx);
  const uint64_t context_bytes = Spec(ctx->gpu).context_memory_bytes + ctx->limit_bytes;
  if (context_bytes > 0) account_->Release(ctx->gpu, context_bytes);
  account_->RemoveContext(ctx->gpu);
  context_stack.erase(std::remove(context_stack.begin(), context_stack.end(), ctx),
                      context_stack.end());
  per_thread_streams.erase(ctx);
  ctx->legacy_stream.reset();
  if (!ctx->primary) delete ctx;
}

CUresult Driver::RetainPrimary(CUdevice device, CUctx_st** ctx) {
  const CUresult valid = CheckDevice(device);
  if (valid != CUDA_SUCCESS) return valid;
  std::lock_guard<std::mutex> lock(primary_mutex_);
  Primary& primary = primaries_[static_cast<size_t>(device)];
  if (!primary.active) {
    CUctx_st* created = nullptr;
    const CUresult result = CreateContext(device, primary.flags, /*primary=*/true, &created);
    if (result != CUDA_SUCCESS) return result;
    primary.active = true;
  }
  ++primary.retained;
  *ctx = primary.ctx.get();
  return CUDA_SUCCESS;
}

CUresult Driver::ReleasePrimary(CUdevice device) {
  const CUresult valid = CheckDevice(device);
  if (valid != CUDA_SUCCESS) return valid;
  std::lock_guard<std::mutex> lock(primary_mutex_);
  Primary& primary = primaries_[static_cast<size_t>(device)];
  if (primary.retained == 0) return CUDA_ERROR_INVALID_CONTEXT;
  if (--primary.retained == 0 && primary.active) {
    DestroyContext(primary.ctx.get());
    primary.active = false;
  }
  return CUDA_SUCCESS;
}

CUresult Driver::ResetPrimary(CUdevice device) {
  const CUresult valid = CheckDevice(device);
  if (valid != CUDA_SUCCESS) return valid;
  std::lock_guard<std::mutex> lock(primary_mutex_);
  Primary& primary = primaries_[static_cast<size_t>(device)];
  if (!primary.active) return CUDA_SUCCESS;
  DestroyContext(primary.ctx.get());
  primary.active = false;
  if (primary.retained > 0) {
    // Holders keep a usable handle: the same context object, fresh.
    CUctx_st* recreated = nullptr;
    const CUresult result = CreateContext(device, primary.flags, /*primary=*/true, &recreated);
    if (result != CUDA_SUCCESS) return result;
    primary.active = true;
  }
  return CUDA_SUCCESS;
}

CUresult Driver::SetPrimaryFlags(CUdevice device, unsigned int flags) {
  const CUresult valid = CheckDevice(device);
  if (valid != CUDA_SUCCESS) return valid;
  if ((flags & ~static_cast<unsigned>(CU_CTX_FLAGS_MASK)) != 0) return CUDA_ERROR_INVALID_VALUE;
  std::lock_guard<std::mutex> lock(primary_mutex_);
  Primary& primary = primaries_[static_cast<size_t>(device)];
  primary.flags = flags;
  if (primary.active) primary.ctx->flags = flags;
  return CUDA_SUCCESS;
}

CUresult Driver::PrimaryState(CUdevice device, unsigned int* flags, int* active) {
  const CUresult valid = CheckDevice(device);
  if (valid != CUDA_SUCCESS) return valid;
  if (flags == nullptr || active == nullptr) return CUDA_ERROR_INVALID_VALUE;
  std::lock_guard<std::mutex> lock(primary_mutex_);
  const Primary& primary = primaries_[static_cast<size_t>(device)];
  *flags = primary.flags;
  *active = primary.active ? 1 : 0;
  return CUDA_SUCCESS;
}

CUresult Driver::ResolveStream(CUstream handle, bool per_thread, CUstream_st** stream) {
  if (handle == nullptr || handle == CU_STREAM_LEGACY || handle == CU_STREAM_PER_THREAD) {
    CUctx_st* ctx = nullptr;
    const CUresult current = RequireCurrent(&ctx);
    if (current != CUDA_SUCCESS) return current;
    const bool thread_stream = handle == CU_STREAM_PER_THREAD || (handle == nullptr && per_thread);
    if (!thread_stream) {
      *stream = ctx->legacy_stream.get();
      return CUDA_SUCCESS;
    }
    std::unique_ptr<CUstream_st>& owned = per_thread_streams[ctx];
    if (owned == nullptr) {
      owned = std::make_unique<CUstream_st>();
      owned->ctx = ctx;
      owned->implicit = true;
      owned->id = NextId();
    }
    *stream = owned.get();
    return CUDA_SUCCESS;
  }
  if (!streams.Contains(handle)) return CUDA_ERROR_INVALID_HANDLE;
  if (CheckContext(handle->ctx) != CUDA_SUCCESS) return CUDA_ERROR_CONTEXT_IS_DESTROYED;
  *stream = handle;
  return CUDA_SUCCESS;
}

CUresult Driver::QueueKernels(CUstream_st* stream, int kernels) {
  const int gpu = stream->ctx->gpu;
  if (IsLost(gpu)) return CUDA_ERROR_DEVICE_UNAVAILABLE;
  const GpuSpec& spec = Spec(gpu);
  const uint64_t queue_ns = uint64_t{spec.launch_queue_depth} * spec.kernel_duration_ns;
  const uint64_t tail = stream->tail_ns.load(std::memory_order_acquire);
  if (tail > internal::MonotonicNs() + queue_ns) internal::SleepUntil(tail - queue_ns);
  for (int i = 0; i < kernels; ++i) {
    const uint64_t end = account_->ScheduleKernel(
        gpu, stream->tail_ns.load(std::memory_order_acquire), spec.kernel_duration_ns);
    AtomicMax(stream->tail_ns, end);
    AtomicMax(stream->ctx->tail_ns, end);
  }
  return CUDA_SUCCESS;
}

}  // namespace gpuslice::sim::cuda
