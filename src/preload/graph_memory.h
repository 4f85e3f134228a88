// Graph memory is charged for what the driver holds, and for what the graphs that may still
// launch will need. Each launch of an executable graph allocates its allocation nodes from the
// device's graph memory pool, and what the pool takes stays on the GPU after the graph is gone:
// until the program frees it, and after that (kept for later launches) until
// cuDeviceGraphMemTrim. So the charge of a slice's graph memory is
//
//   max(what the device's graph pool reserves, what it uses + the nodes never launched)
//
// where the pool's figures come from the driver (cuDeviceGetGraphMemAttribute) and the nodes
// never launched are those of live graphs and executables (an executable keeps its graph's
// nodes after the graph is destroyed) since their graph was built or the pool last trimmed:
// their launch will take that much more than the pool uses, at most. Allocations made on a
// stream being captured are nodes of the captured graph and become its own when the capture
// ends; a child graph moved into its parent becomes the parent's.
//
// Known imprecision (fail-closed): after a trim, nodes whose memory was still allocated count
// as never launched again, so that memory is charged twice until their executable launches.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include "core/abi/cuda_types.h"
#include "preload/memory_ledger.h"

namespace gpuslice::preload {

// Keeps which graphs hold which allocation nodes and charges the ledger for them. Graphs,
// executables and captures are keyed by their handles and capture ids: a handle the driver
// reuses after a destroy starts afresh, so a new graph never takes an old one's memory.
// Thread-safe: one mutex, held across the driver calls of a node's addition (graph calls are
// not on any hot path; Launched's check is one atomic load for executables without memory).
class GraphMemory {
 public:
  // What a device's graph memory pool holds, from cuDeviceGetGraphMemAttribute.
  struct PoolUsage {
    uint64_t reserved = 0;
    uint64_t used = 0;
  };
  // Reads a device's graph pool; nullopt when the driver cannot say.
  using PoolSource = std::function<std::optional<PoolUsage>(CUdevice device)>;

  explicit GraphMemory(PoolSource pool);

  // Adds an allocation node of `bytes` on `slice` (CUDA device `device`) with `add`, the driver
  // call, and returns its result: first charges what the slice's graph charge grows by, and
  // returns nullopt without calling `add` when that does not fit. On success the node is
  // `owner`'s: graph `owner`, or capture sequence `owner` made on stream `stream` (a key that
  // names one stream in every thread) when `captured`.
  std::optional<CUresult> AddNode(MemoryLedger& ledger, int slice, CUdevice device, uint64_t bytes,
                                  uint64_t owner, bool captured, uint64_t stream,
                                  const std::function<CUresult()>& add);

  // `exec` was instantiated from `graph`: it holds every allocation node `graph` has now.
  void Instantiated(uint64_t graph, uint64_t exec);
  // `child` was moved into `graph` as a child graph node: its nodes are `graph`'s now.
  void Moved(uint64_t child, uint64_t graph);
  // `graph` or `exec` was destroyed: its nodes that nothing else holds are forgotten, and the
  // charge follows.
  void GraphDestroyed(MemoryLedger& ledger, uint64_t graph);
  void ExecDestroyed(MemoryLedger& ledger, uint64_t exec);

  // Capture sequence `capture` ended with `graph`: its allocations are the graph's from now on.
  void CaptureEnded(uint64_t capture, uint64_t graph);
  // Capture sequence `capture` ended without a graph: its allocations are forgotten.
  void CaptureFailed(MemoryLedger& ledger, uint64_t capture);
  // The capture `stream` was in ended without a graph and without the driver naming it (an
  // invalidated capture has no id): every capture an allocation on `stream` was made for is
  // forgotten; a capture that allocated only on other streams it joined keeps its charges
  // (known imprecision).
  void CaptureFailedOn(MemoryLedger& ledger, uint64_t stream);

  // True when some executable holds allocation nodes: only then does a launch need Launched.
  bool AnyExecHoldsMemory() const { return execs_with_memory_.load(std::memory_order_relaxed) > 0; }
  // `exec` was launched: its nodes have taken their memory from the pool, which the pool's
  // figures show from now on. Never lowers the charge (a driver may show the launch late).
  void Launched(MemoryLedger& ledger, uint64_t exec);
  // The graph pool of `device` was trimmed: memory the nodes took may be gone, so they count as
  // never launched again.
  void Trimmed(MemoryLedger& ledger, CUdevice device);

  // Brings `slice`'s graph charge to what the driver shows (see above): more is charged at once
  // even past the limit (the driver holds it), less is given back.
  void Settle(MemoryLedger& ledger, int slice);
  // What `slice`'s graph memory is charged.
  uint64_t Charged(int slice) const;
  // The part of it the driver's graph pool did not hold at the last settlement (nodes not
  // launched yet), which the driver's per-process figure does not count.
  uint64_t Uncounted(int slice) const;

 private:
  struct Node {
    int slice = 0;
    uint64_t bytes = 0;
    int holders = 0;  // the graph and the executables that hold it
    bool launched = false;
  };
  struct Capture {
    std::vector<uint64_t> streams;
    std::vector<uint64_t> nodes;
  };
  struct Slice {
    CUdevice device = -1;     // -1 until a node names it
    uint64_t charged = 0;     // in the ledger
    uint64_t held = 0;        // bytes of the nodes live graphs, executables and captures hold
    uint64_t unlaunched = 0;  // the part of `held` never launched
    uint64_t reserved = 0;    // what the driver's graph pool held at the last look
  };

  // REQUIRES: mutex_ held. The charge `slice` should have with `extra` more unlaunched bytes;
  // what the nodes hold when the driver cannot report the device's pool.
  uint64_t Target(int slice, uint64_t extra);
  // REQUIRES: mutex_ held. Settle; with `lower`, less is given back.
  void SettleLocked(MemoryLedger& ledger, int slice, bool lower);
  // REQUIRES: mutex_ held. Drops one holder of each of `ids`; forgets those no one holds and
  // settles the slices they were on.
  void Release(MemoryLedger& ledger, const std::vector<uint64_t>& ids);
  // REQUIRES: mutex_ held. Forgets the nodes of `capture` and settles.
  void DropCapture(MemoryLedger& ledger, std::unordered_map<uint64_t, Capture>::iterator capture);
  // REQUIRES: mutex_ held. Counts executables holding nodes, for AnyExecHoldsMemory.
  void CountExecs();

  const PoolSource pool_;
  mutable std::mutex mutex_;
  uint64_t next_id_ = 0;
  std::unordered_map<uint64_t, Node> nodes_;                    // by id
  std::unordered_map<uint64_t, std::vector<uint64_t>> graphs_;  // graph -> ids it holds
  std::unordered_map<uint64_t, std::vector<uint64_t>> execs_;   // exec -> ids it holds
  std::unordered_map<uint64_t, Capture> captures_;              // by capture id
  Slice slices_[core::contract::kMaxVisibleGpus];
  std::atomic<size_t> execs_with_memory_{0};
};

}  // namespace gpuslice::preload
