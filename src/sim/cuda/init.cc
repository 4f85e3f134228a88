// Entry points that work before cuInit: initialization, the driver version, error texts and
// entry-point lookup (cuGetProcAddress), which runtimes use to find everything else.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sim/cuda/driver.h"
#include "sim/cuda/entry_point_table.h"
#include "sim/cuda/errors.h"
#include "sim/environment.h"

namespace {

using gpuslice::sim::cuda::Driver;

// The CUDA version the simulated driver reports when the node's spec does not say.
constexpr int kDefaultCudaVersion = 13000;

int DriverVersion() {
  Driver& driver = Driver::Get();
  if (driver.CheckInitialized() == CUDA_SUCCESS) return driver.state().cuda_version();
  // Before cuInit, like the real driver, the version is known without touching a device.
  const char* path = std::getenv(std::string(gpuslice::sim::kStateEnv).c_str());
  if (path != nullptr) {
    auto state = gpuslice::sim::SimState::Open(path);
    if (state.ok()) return (*state)->cuda_version();
  }
  const char* spec = std::getenv(std::string(gpuslice::sim::kSpecEnv).c_str());
  if (spec != nullptr) {
    auto parsed = gpuslice::sim::ParseSpec(spec);
    if (parsed.ok()) return parsed->cuda_version;
  }
  return kDefaultCudaVersion;
}

// The driver's own version, beyond which it knows no entry-point variant; never throws.
int DriverVersionOrDefault() {
  try {
    return DriverVersion();
  } catch (...) {
    return kDefaultCudaVersion;
  }
}

using Variants = std::vector<const GpusliceEntryPointVariant*>;

const std::unordered_map<std::string_view, Variants>& EntryPoints() {
  static const auto* index = [] {
    auto* built = new std::unordered_map<std::string_view, Variants>();
    for (int i = 0; i < kGpusliceEntryPointVariantCount; ++i) {
      const GpusliceEntryPointVariant& variant = kGpusliceEntryPointVariants[i];
      (*built)[variant.name].push_back(&variant);
    }
    return built;
  }();
  return *index;
}

// Selects the variant the real driver would: the newest one introduced at or before the
// caller's CUDA version, the per-thread default-stream one when asked for and available. A
// driver older than the caller has only the variants up to its own version (and none of an
// entry point introduced after it).
CUresult Lookup(const char* symbol, void** function, int cuda_version, cuuint64_t flags,
                CUdriverProcAddressQueryResult* status) {
  constexpr cuuint64_t kKnownFlags =
      CU_GET_PROC_ADDRESS_LEGACY_STREAM | CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM;
  if (symbol == nullptr || function == nullptr || (flags & ~kKnownFlags) != 0) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  *function = nullptr;
  auto set_status = [status](CUdriverProcAddressQueryResult value) {
    if (status != nullptr) *status = value;
  };
  const auto found = EntryPoints().find(symbol);
  const int driver_version = DriverVersionOrDefault();
  const bool known = found != EntryPoints().end() &&
                     std::any_of(found->second.begin(), found->second.end(),
                                 [driver_version](const GpusliceEntryPointVariant* variant) {
                                   return variant->version <= driver_version;
                                 });
  if (!known) {
    set_status(CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND);
    return CUDA_ERROR_NOT_FOUND;
  }
  const bool per_thread = (flags & CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM) != 0;
  const GpusliceEntryPointVariant* best = nullptr;
  for (const GpusliceEntryPointVariant* variant : found->second) {
    if (variant->version > cuda_version || variant->version > driver_version ||
        (variant->per_thread != 0 && !per_thread)) {
      continue;
    }
    const bool better =
        best == nullptr || variant->per_thread > best->per_thread ||
        (variant->per_thread == best->per_thread && variant->version > best->version);
    if (better) best = variant;
  }
  if (best == nullptr) {
    set_status(CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT);
    return CUDA_ERROR_NOT_FOUND;
  }
  *function = best->symbol;
  set_status(CU_GET_PROC_ADDRESS_SUCCESS);
  return CUDA_SUCCESS;
}

}  // namespace

GPUSLICE_CUDA_EXPORT CUresult cuInit(unsigned int Flags) {
  if (Flags != 0) return CUDA_ERROR_INVALID_VALUE;
  try {
    return Driver::Get().Init();
  } catch (...) {
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
}

GPUSLICE_CUDA_EXPORT CUresult cuDriverGetVersion(int* driverVersion) {
  if (driverVersion == nullptr) return CUDA_ERROR_INVALID_VALUE;
  *driverVersion = DriverVersionOrDefault();
  return CUDA_SUCCESS;
}

GPUSLICE_CUDA_EXPORT CUresult cuGetErrorString(CUresult error, const char** pStr) {
  if (pStr == nullptr) return CUDA_ERROR_INVALID_VALUE;
  *pStr = gpuslice::sim::cuda::ErrorDescription(error);
  return *pStr == nullptr ? CUDA_ERROR_INVALID_VALUE : CUDA_SUCCESS;
}

GPUSLICE_CUDA_EXPORT CUresult cuGetErrorName(CUresult error, const char** pStr) {
  if (pStr == nullptr) return CUDA_ERROR_INVALID_VALUE;
  *pStr = gpuslice::sim::cuda::ErrorName(error);
  return *pStr == nullptr ? CUDA_ERROR_INVALID_VALUE : CUDA_SUCCESS;
}

// NVIDIA-private tables the runtime needs; a simulated driver has none to give.
GPUSLICE_CUDA_EXPORT CUresult cuGetExportTable(const void** ppExportTable, const CUuuid*) {
  if (ppExportTable != nullptr) *ppExportTable = nullptr;
  return CUDA_ERROR_NOT_SUPPORTED;
}

GPUSLICE_CUDA_EXPORT CUresult cuGetProcAddress(const char* symbol, void** pfn, int driverVersion,
                                               cuuint64_t flags) {
  return Lookup(symbol, pfn, driverVersion, flags, nullptr);
}

GPUSLICE_CUDA_EXPORT CUresult cuGetProcAddress_v2(const char* symbol, void** pfn, int driverVersion,
                                                  cuuint64_t flags,
                                                  CUdriverProcAddressQueryResult* symbolFound) {
  return Lookup(symbol, pfn, driverVersion, flags, symbolFound);
}
