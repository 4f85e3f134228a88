// The layout of a container's accounting region: the file at GPUSLICE_REGION that every
// process of the container maps to share GPU memory use and compute credit. libgpuslice.so
// lays it out and updates it. Pure layout and read helpers: no I/O here, so any reader can
// validate a mapping (CheckLayout) before trusting it.
//
// Limits are never stored here: every process takes them from the container's read-only
// limits file (or, run by hand, its own environment), so no process can change another's limit
// by writing the region. Everything here is written by the container's own processes, so
// readers validate what they use (docs/security.md says what a writer can and cannot do).
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/contract.h"
#include "core/status.h"

namespace gpuslice::core::region {

inline constexpr uint64_t kMagic = 0x4543494c53555047ULL;  // "GPUSLICE", little-endian
// Bump on any change below. A writer (libgpuslice.so) maps only its own version; a reader
// (the node agent) also reads every older one, so a container started before an upgrade
// keeps its metrics. A version only appends to the one before, so an older layout is a
// prefix of the current one.
//   1: header, devices, slots.
//   2: adds the counters (Counters, SlotCounters) after the slots.
//   3: adds the NVML PID of each slot's process (nvml_pids) after the counters.
inline constexpr uint32_t kLayoutVersion = 3;
inline constexpr uint32_t kOldestReadableVersion = 1;
inline constexpr int kMaxDevices = contract::kMaxVisibleGpus;
// Processes of one container that can use CUDA at once. A process takes a slot on its first
// CUDA call; slots of dead processes are reclaimed.
inline constexpr int kMaxProcesses = 1024;

// Per visible GPU (index i of NVIDIA_VISIBLE_DEVICES), shared by the container's processes.
struct alignas(64) DeviceState {
  // Serializes memory decisions on this GPU: every change of used_bytes here and of a slot's
  // used_bytes[i] happens under it. Process-shared and robust: when a holder dies, the next
  // one gets EOWNERDEAD and recomputes used_bytes from the slots (the slots are the truth).
  pthread_mutex_t memory_mutex;
  // Sum of all live slots' used_bytes[i].
  std::atomic<uint64_t> used_bytes;

  // Compute share, lock-free: GPU time (ns) the container may still use before its launches
  // wait. Refilled at share * wall time, drained by measured busy time; may go negative.
  alignas(64) std::atomic<int64_t> credit_ns;
  // CLOCK_MONOTONIC (ns) up to which credit_ns has been refilled.
  std::atomic<uint64_t> refilled_until_ns;
};

// One process of the container.
struct alignas(64) ProcessSlot {
  std::atomic<int32_t> pid;  // 0 = free
  // Start time of the process in clock ticks since boot (/proc/<pid>/stat field 22): tells
  // a live owner from an unrelated process that got the same PID later.
  std::atomic<uint64_t> start_time;
  std::atomic<uint64_t> used_bytes[kMaxDevices];  // device memory this process holds, per GPU
  std::atomic<uint64_t> busy_ns[kMaxDevices];     // GPU time this process was charged, per GPU
};

// What the container did on one GPU since its region was laid out: cumulative, so a process
// that ends takes nothing away. Peak is written under the device's memory_mutex; the other
// counters are lock-free additions.
struct alignas(64) Counters {
  std::atomic<uint64_t> peak_bytes;           // highest used_bytes the ledger granted
  std::atomic<uint64_t> refused_allocations;  // charges the ledger refused
  std::atomic<uint64_t> refused_bytes;        // bytes those charges asked for
  std::atomic<uint64_t> throttled_launches;   // launches that waited at the compute gate
  std::atomic<uint64_t> throttled_ns;         // CLOCK_MONOTONIC time they waited
};

// The same figures for the process in the slot of the same index, per GPU; emptied with the
// slot.
struct alignas(64) SlotCounters {
  std::atomic<uint64_t> peak_bytes[kMaxDevices];
  std::atomic<uint64_t> refused_allocations[kMaxDevices];
  std::atomic<uint64_t> refused_bytes[kMaxDevices];
  std::atomic<uint64_t> throttled_launches[kMaxDevices];
  std::atomic<uint64_t> throttled_ns[kMaxDevices];
};

struct Header {
  uint64_t magic;
  uint32_t version;
  uint32_t max_devices;
  uint32_t max_processes;
  uint32_t reserved;
  uint64_t size;  // bytes of the whole layout
};

struct Region {
  Header header;
  alignas(64) DeviceState devices[kMaxDevices];
  ProcessSlot slots[kMaxProcesses];
  // Version 2 on.
  Counters counters[kMaxDevices];
  SlotCounters slot_counters[kMaxProcesses];
  // Version 3 on. The PID NVML reports for the process in the slot of the same index (the
  // host's, in a pod), 0 while unknown; emptied with the slot. The node agent attributes
  // NVML's per-process utilization to the container through it. In an array of its own so a
  // reader copies 4 KiB, not the slots.
  std::atomic<uint32_t> nvml_pids[kMaxProcesses];
};

// Atomics in a file mapped by several processes must not hide a lock inside the process.
static_assert(std::atomic<uint64_t>::is_always_lock_free);
static_assert(std::atomic<int64_t>::is_always_lock_free);
static_assert(std::atomic<int32_t>::is_always_lock_free);
static_assert(std::atomic<uint32_t>::is_always_lock_free);

inline constexpr size_t kRegionSize = sizeof(Region);
// Version 1 is the current layout up to the counters; its size is fixed for good.
inline constexpr size_t kVersion1Size = offsetof(Region, counters);
static_assert(kVersion1Size == 329792, "layout version 1 must not change");
inline constexpr size_t kVersion2Size = offsetof(Region, nvml_pids);
static_assert(kVersion2Size == 986176, "layout version 2 must not change");

// What a reader takes from a region for one GPU: the container's totals. The counters are
// zero in a version-1 region, which has none.
struct DeviceUsage {
  uint64_t used_bytes = 0;
  uint64_t peak_bytes = 0;
  uint64_t refused_allocations = 0;
  uint64_t refused_bytes = 0;
  uint64_t throttled_launches = 0;
  uint64_t throttled_ns = 0;
};

// The byte ranges of a region a reader needs for DeviceUsage: the header and devices
// [0, kDevicesEnd) and, from version 2, the counters [kCountersBegin, kCountersEnd).
inline constexpr size_t kDevicesEnd = offsetof(Region, slots);
inline constexpr size_t kCountersBegin = offsetof(Region, counters);
inline constexpr size_t kCountersEnd = offsetof(Region, slot_counters);
// From version 3, the NVML PIDs [kNvmlPidsBegin, kNvmlPidsEnd).
inline constexpr size_t kNvmlPidsBegin = offsetof(Region, nvml_pids);
inline constexpr size_t kNvmlPidsEnd = kNvmlPidsBegin + sizeof(Region::nvml_pids);

// Returns OK when `size` bytes at `data` hold a laid-out region of this version; otherwise
// FailedPrecondition naming what differs (empty, foreign file, other version, other size).
// Reads only the header.
Status CheckLayout(const void* data, size_t size);

// Returns the layout version of the region whose header is at `data` when this build can read
// it (kOldestReadableVersion..kLayoutVersion) and `file_size` is that version's size;
// otherwise FailedPrecondition as CheckLayout says. Reads only the header.
Result<uint32_t> CheckReadable(const void* data, size_t file_size);

// Returns the size of layout `version`, or 0 for a version this build does not know.
size_t LayoutSize(uint32_t version);

// Returns the container's figures for GPU `device` from `devices` (the bytes [0, kDevicesEnd)
// of a region) and, for version >= 2, `counters` (the bytes [kCountersBegin, kCountersEnd));
// `counters` may be null for version 1. Copies, so the caller may read the file with pread and
// a writer changing it meanwhile yields stale figures, never a fault.
// REQUIRES: 0 <= device < kMaxDevices.
DeviceUsage ReadDeviceUsage(const void* devices, const void* counters, int device);

// Returns the distinct non-zero PIDs in `nvml_pids` (the bytes [kNvmlPidsBegin, kNvmlPidsEnd) of a
// version-3 region), ascending. Copies, like ReadDeviceUsage.
std::vector<uint32_t> ReadNvmlPids(const void* nvml_pids);

// Returns the header a freshly laid-out region carries.
Header CurrentHeader();

// Returns the memory the container uses on GPU `device`, computed from the slots (what a
// holder of the device's memory_mutex repairs used_bytes to), saturating at UINT64_MAX.
// REQUIRES: 0 <= device < kMaxDevices.
uint64_t SumSlotUsage(const Region& region, int device);

}  // namespace gpuslice::core::region
