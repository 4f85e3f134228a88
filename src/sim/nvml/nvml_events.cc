// XID and health events of the simulated NVML. An event set remembers, per registered GPU,
// the newest XID it has delivered; waiting sleeps on the shared state's event word, which
// every injection and health change bumps, so events reach every waiting process at once.
#include <algorithm>
#include <mutex>
#include <vector>

#include "sim/internal/clock.h"
#include "sim/internal/layout.h"
#include "sim/nvml/nvml_library.h"

struct nvmlEventSet_st {
  struct Registration {
    int gpu;
    nvmlDevice_t device;
    unsigned long long types;
    uint64_t delivered;  // sequence of the newest XID handed out
    bool lost_reported;  // the current loss of the GPU was reported once
  };
  std::mutex mutex;
  std::vector<Registration> registrations;
};

namespace {

using gpuslice::sim::SimState;
using gpuslice::sim::XidEvent;
using gpuslice::sim::nvml::NvmlLibrary;

constexpr unsigned long long kSupportedEvents =
    nvmlEventTypeXidCriticalError | nvmlEventTypeSingleBitEccError | nvmlEventTypeDoubleBitEccError;
constexpr uint64_t kXidRing = gpuslice::sim::internal::kXidRingSize;

// Looks for something to report; true with *result and *data set when there is.
bool NextEvent(nvmlEventSet_st* set, SimState& state, nvmlEventData_t* data, nvmlReturn_t* result) {
  std::lock_guard<std::mutex> lock(set->mutex);
  for (auto& registration : set->registrations) {
    if (state.IsLost(registration.gpu)) {
      if (!registration.lost_reported) {
        registration.lost_reported = true;
        *data = nvmlEventData_t{registration.device, 0, 0, 0xFFFFFFFFU, 0xFFFFFFFFU};
        *result = NVML_ERROR_GPU_IS_LOST;
        return true;
      }
    } else {
      registration.lost_reported = false;
    }
    if ((registration.types & nvmlEventTypeXidCriticalError) == 0) continue;
    const uint64_t latest = state.LatestXidSequence(registration.gpu);
    while (registration.delivered < latest) {
      // Events older than the ring are gone; skip to the oldest one still kept.
      uint64_t next =
          std::max(registration.delivered + 1, latest >= kXidRing ? latest - kXidRing + 1 : 1);
      registration.delivered = next;
      const std::optional<XidEvent> event = state.ReadXid(registration.gpu, next);
      if (!event) continue;
      *data = nvmlEventData_t{registration.device, nvmlEventTypeXidCriticalError, event->xid,
                              0xFFFFFFFFU, 0xFFFFFFFFU};
      *result = NVML_SUCCESS;
      return true;
    }
  }
  return false;
}

}  // namespace

GPUSLICE_NVML_EXPORT nvmlReturn_t nvmlEventSetCreate(nvmlEventSet_t* set) {
  if (!NvmlLibrary::Get().initialized()) return NVML_ERROR_UNINITIALIZED;
  if (set == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  *set = new nvmlEventSet_st();
  return NVML_SUCCESS;
}

GPUSLICE_NVML_EXPORT nvmlReturn_t nvmlEventSetFree(nvmlEventSet_t set) {
  if (!NvmlLibrary::Get().initialized()) return NVML_ERROR_UNINITIALIZED;
  if (set == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  delete set;
  return NVML_SUCCESS;
}

GPUSLICE_NVML_EXPORT nvmlReturn_t nvmlDeviceGetSupportedEventTypes(nvmlDevice_t device,
                                                                   unsigned long long* types) {
  if (types == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  int gpu = 0;
  const nvmlReturn_t resolved = NvmlLibrary::Get().Resolve(device, &gpu);
  if (resolved != NVML_SUCCESS) return resolved;
  *types = kSupportedEvents;
  return NVML_SUCCESS;
}

GPUSLICE_NVML_EXPORT nvmlReturn_t nvmlDeviceRegisterEvents(nvmlDevice_t device,
                                                           unsigned long long types,
                                                           nvmlEventSet_t set) {
  if (set == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  NvmlLibrary& library = NvmlLibrary::Get();
  int gpu = 0;
  const nvmlReturn_t resolved = library.Resolve(device, &gpu);
  if (resolved != NVML_SUCCESS) return resolved;
  if ((types & ~kSupportedEvents) != 0) return NVML_ERROR_NOT_SUPPORTED;
  std::lock_guard<std::mutex> lock(set->mutex);
  for (auto& registration : set->registrations) {
    if (registration.gpu == gpu) {
      registration.types |= types;
      return NVML_SUCCESS;
    }
  }
  set->registrations.push_back({gpu, device, types, library.state().LatestXidSequence(gpu), false});
  return NVML_SUCCESS;
}

GPUSLICE_NVML_EXPORT nvmlReturn_t nvmlEventSetWait_v2(nvmlEventSet_t set, nvmlEventData_t* data,
                                                      unsigned int timeout_ms) {
  NvmlLibrary& library = NvmlLibrary::Get();
  if (!library.initialized()) return NVML_ERROR_UNINITIALIZED;
  if (set == nullptr || data == nullptr) return NVML_ERROR_INVALID_ARGUMENT;
  SimState& state = library.state();
  const uint64_t deadline =
      gpuslice::sim::internal::MonotonicNs() + uint64_t{timeout_ms} * 1'000'000ULL;
  for (;;) {
    const uint32_t epoch = state.EventEpoch();
    nvmlReturn_t result = NVML_SUCCESS;
    if (NextEvent(set, state, data, &result)) return result;
    const uint64_t now = gpuslice::sim::internal::MonotonicNs();
    if (now >= deadline) return NVML_ERROR_TIMEOUT;
    state.WaitForEvent(epoch, static_cast<int64_t>(deadline - now));
  }
}
