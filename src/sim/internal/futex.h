// Waiting on a 32-bit word in a shared file mapping, woken from any process. Used to deliver
// XID and health events to every process blocked in nvmlEventSetWait the moment they happen.
#pragma once

#include <atomic>
#include <cstdint>

namespace gpuslice::sim::internal {

// Blocks while *word == expected, at most timeout_ns (negative: no limit). Returns early on
// a wake-up, a changed value, a signal or a timeout; the caller re-checks its condition.
void FutexWait(const std::atomic<uint32_t>* word, uint32_t expected, int64_t timeout_ns);

// Wakes every process and thread waiting on `word`.
void FutexWakeAll(const std::atomic<uint32_t>* word);

}  // namespace gpuslice::sim::internal
