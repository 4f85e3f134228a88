// Graph memory is used whenever a graph runs, not while a pointer is held: each launch of an
// executable graph allocates its allocation nodes, and an executable keeps its own copy of
// them after the graph it was instantiated from is destroyed. So an allocation node's charge
// belongs to its graph and to every executable instantiated from the graph while it had the
// node, and is given back when the last of them is destroyed; a free of the address never
// gives it back, since the next launch allocates it again. Allocations made on a stream being
// captured are nodes of the captured graph and become its own when the capture ends.
//
// Known imprecision: an allocation a launch left allocated (the graph has no free node for it
// and it was not freed since) stays on the GPU after the last executable is destroyed, until
// the application frees it; its charge is given back at that destroy all the same.
#pragma once

#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "preload/allocation_map.h"

namespace gpuslice::preload {

// Keeps who holds which graph memory; the hooks charge it and give back what this returns.
// Graphs, executables and captures are keyed by their handles and capture ids: a handle the
// driver reuses after a destroy starts afresh, so a new graph never takes an old one's memory.
// Thread-safe: one mutex (graph calls are not on any hot path).
class GraphMemory {
 public:
  // An allocation node of `graph` was charged `allocation`.
  void Added(uint64_t graph, Allocation allocation);
  // `exec` was instantiated from `graph`: it holds every allocation `graph` has now.
  void Instantiated(uint64_t graph, uint64_t exec);
  // `graph` was destroyed. Returns what to give back: its allocations no executable holds.
  std::vector<Allocation> GraphDestroyed(uint64_t graph);
  // `exec` was destroyed. Returns what to give back: its allocations that neither their graph
  // nor another executable holds.
  std::vector<Allocation> ExecDestroyed(uint64_t exec);

  // An allocation was charged `allocation` for a node of the capture sequence `capture`
  // (cuStreamGetCaptureInfo's id), made on `stream` (a key that names one stream in every
  // thread).
  void Captured(uint64_t capture, uint64_t stream, Allocation allocation);
  // Capture sequence `capture` ended with `graph`: its allocations are the graph's from now on.
  void CaptureEnded(uint64_t capture, uint64_t graph);
  // Capture sequence `capture` ended without a graph. Returns its allocations to give back.
  std::vector<Allocation> CaptureFailed(uint64_t capture);
  // The capture `stream` was in ended without a graph and without the driver naming it (an
  // invalidated capture has no id). Returns the allocations to give back of every capture an
  // allocation on `stream` was made for; a capture that allocated only on other streams it
  // joined keeps its charges (known imprecision).
  std::vector<Allocation> CaptureFailedOn(uint64_t stream);

 private:
  struct Held {
    Allocation allocation;
    int holders = 0;  // the graph and the executables that hold it
  };
  struct Capture {
    std::vector<uint64_t> streams;
    std::vector<Allocation> allocations;
  };

  // REQUIRES: mutex_ held. Drops one holder of each of `ids`; returns what no one holds now.
  std::vector<Allocation> Release(const std::vector<uint64_t>& ids);

  std::mutex mutex_;
  uint64_t next_id_ = 0;
  std::unordered_map<uint64_t, Held> held_;                     // by id
  std::unordered_map<uint64_t, std::vector<uint64_t>> graphs_;  // graph -> ids it holds
  std::unordered_map<uint64_t, std::vector<uint64_t>> execs_;   // exec -> ids it holds
  std::unordered_map<uint64_t, Capture> captures_;              // by capture id
};

}  // namespace gpuslice::preload
