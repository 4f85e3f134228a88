// The layout of a container's accounting region: the file at GPUSLICE_REGION that every
// process of the container maps to share GPU memory use and compute credit. libgpuslice.so
// lays it out and updates it; `gpuslice inspect` reads it. Pure layout and read helpers: no
// I/O here, so any reader can validate a mapping before trusting it.
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

#include "core/contract.h"
#include "core/status.h"

namespace gpuslice::core::region {

inline constexpr uint64_t kMagic = 0x4543494c53555047ULL;  // "GPUSLICE", little-endian
// Bump on any change below; a reader refuses a version it does not know.
inline constexpr uint32_t kLayoutVersion = 1;
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
};

// Atomics in a file mapped by several processes must not hide a lock inside the process.
static_assert(std::atomic<uint64_t>::is_always_lock_free);
static_assert(std::atomic<int64_t>::is_always_lock_free);
static_assert(std::atomic<int32_t>::is_always_lock_free);

inline constexpr size_t kRegionSize = sizeof(Region);

// Returns OK when `size` bytes at `data` hold a laid-out region of this version; otherwise
// FailedPrecondition naming what differs (empty, foreign file, other version, other size).
// Reads only the header.
Status CheckLayout(const void* data, size_t size);

// Returns the header a freshly laid-out region carries.
Header CurrentHeader();

// Returns the memory the container uses on GPU `device`, computed from the slots (what a
// holder of the device's memory_mutex repairs used_bytes to), saturating at UINT64_MAX.
// REQUIRES: 0 <= device < kMaxDevices.
uint64_t SumSlotUsage(const Region& region, int device);

}  // namespace gpuslice::core::region
