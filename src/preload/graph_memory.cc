#include "preload/graph_memory.h"

#include <algorithm>

namespace gpuslice::preload {

GraphMemory::GraphMemory(PoolSource pool) : pool_(std::move(pool)) {}

uint64_t GraphMemory::Target(int slice, uint64_t extra) {
  Slice& state = slices_[slice];
  const std::optional<PoolUsage> pool =
      state.device >= 0 ? pool_(state.device) : std::optional<PoolUsage>();
  state.reserved = pool ? pool->reserved : 0;
  // Drivers that cannot report their graph pool: the nodes' own sizes, as long as they live.
  if (!pool) return state.held + extra;
  return std::max(pool->reserved, pool->used + state.unlaunched + extra);
}

void GraphMemory::SettleLocked(MemoryLedger& ledger, int slice, bool lower) {
  Slice& state = slices_[slice];
  const uint64_t target = Target(slice, 0);
  if (target > state.charged) {
    ledger.ChargeHeld(slice, target - state.charged);
    state.charged = target;
  } else if (lower && target < state.charged) {
    ledger.Refund(slice, state.charged - target);
    state.charged = target;
  }
}

std::optional<CUresult> GraphMemory::AddNode(MemoryLedger& ledger, int slice, CUdevice device,
                                             uint64_t bytes, uint64_t owner, bool captured,
                                             uint64_t stream,
                                             const std::function<CUresult()>& add) {
  std::lock_guard<std::mutex> lock(mutex_);
  Slice& state = slices_[slice];
  if (state.device < 0) state.device = device;
  const uint64_t target = Target(slice, bytes);
  if (target > state.charged) {
    if (!ledger.Charge(slice, target - state.charged)) return std::nullopt;
    state.charged = target;
  }
  const CUresult result = add();
  if (result != CUDA_SUCCESS) {
    SettleLocked(ledger, slice, /*lower=*/true);
    return result;
  }
  const uint64_t id = ++next_id_;
  nodes_[id] = Node{slice, bytes, 1, false};
  state.held += bytes;
  state.unlaunched += bytes;
  if (!captured) {
    graphs_[owner].push_back(id);
    return result;
  }
  Capture& capture = captures_[owner];
  if (std::find(capture.streams.begin(), capture.streams.end(), stream) == capture.streams.end()) {
    capture.streams.push_back(stream);
  }
  capture.nodes.push_back(id);
  return result;
}

void GraphMemory::Instantiated(uint64_t graph, uint64_t exec) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto found = graphs_.find(graph);
  if (found == graphs_.end() || found->second.empty()) return;  // no memory nodes to hold
  for (uint64_t id : found->second) ++nodes_[id].holders;
  execs_[exec] = found->second;
  CountExecs();
}

void GraphMemory::Moved(uint64_t child, uint64_t graph) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto found = graphs_.find(child);
  if (found == graphs_.end()) return;
  std::vector<uint64_t> ids = std::move(found->second);
  graphs_.erase(found);
  std::vector<uint64_t>& parent = graphs_[graph];
  parent.insert(parent.end(), ids.begin(), ids.end());
}

void GraphMemory::GraphDestroyed(MemoryLedger& ledger, uint64_t graph) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto found = graphs_.find(graph);
  if (found == graphs_.end()) return;
  const std::vector<uint64_t> ids = std::move(found->second);
  graphs_.erase(found);
  Release(ledger, ids);
}

void GraphMemory::ExecDestroyed(MemoryLedger& ledger, uint64_t exec) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto found = execs_.find(exec);
  if (found == execs_.end()) return;
  const std::vector<uint64_t> ids = std::move(found->second);
  execs_.erase(found);
  CountExecs();
  Release(ledger, ids);
}

void GraphMemory::CaptureEnded(uint64_t capture, uint64_t graph) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto found = captures_.find(capture);
  if (found == captures_.end()) return;
  std::vector<uint64_t>& ids = graphs_[graph];
  ids.insert(ids.end(), found->second.nodes.begin(), found->second.nodes.end());
  captures_.erase(found);
}

void GraphMemory::CaptureFailed(MemoryLedger& ledger, uint64_t capture) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto found = captures_.find(capture);
  if (found != captures_.end()) DropCapture(ledger, found);
}

void GraphMemory::CaptureFailedOn(MemoryLedger& ledger, uint64_t stream) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto capture = captures_.begin(); capture != captures_.end();) {
    const std::vector<uint64_t>& streams = capture->second.streams;
    if (std::find(streams.begin(), streams.end(), stream) == streams.end()) {
      ++capture;
      continue;
    }
    const auto next = std::next(capture);
    DropCapture(ledger, capture);
    capture = next;
  }
}

void GraphMemory::DropCapture(MemoryLedger& ledger,
                              std::unordered_map<uint64_t, Capture>::iterator capture) {
  const std::vector<uint64_t> ids = std::move(capture->second.nodes);
  captures_.erase(capture);
  Release(ledger, ids);
}

void GraphMemory::Launched(MemoryLedger& ledger, uint64_t exec) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto found = execs_.find(exec);
  if (found == execs_.end()) return;
  bool touched[core::contract::kMaxVisibleGpus] = {};
  for (uint64_t id : found->second) {
    Node& node = nodes_[id];
    touched[node.slice] = true;
    if (node.launched) continue;
    node.launched = true;
    slices_[node.slice].unlaunched -= node.bytes;
  }
  for (int slice = 0; slice < core::contract::kMaxVisibleGpus; ++slice) {
    if (touched[slice]) SettleLocked(ledger, slice, /*lower=*/false);
  }
}

void GraphMemory::Trimmed(MemoryLedger& ledger, CUdevice device) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& [id, node] : nodes_) {
    if (slices_[node.slice].device != device || !node.launched) continue;
    node.launched = false;
    slices_[node.slice].unlaunched += node.bytes;
  }
  for (int slice = 0; slice < core::contract::kMaxVisibleGpus; ++slice) {
    if (slices_[slice].device == device) SettleLocked(ledger, slice, /*lower=*/true);
  }
}

void GraphMemory::Settle(MemoryLedger& ledger, int slice) {
  std::lock_guard<std::mutex> lock(mutex_);
  SettleLocked(ledger, slice, /*lower=*/true);
}

uint64_t GraphMemory::Charged(int slice) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return slices_[slice].charged;
}

uint64_t GraphMemory::Uncounted(int slice) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const Slice& state = slices_[slice];
  return state.charged > state.reserved ? state.charged - state.reserved : 0;
}

void GraphMemory::Release(MemoryLedger& ledger, const std::vector<uint64_t>& ids) {
  bool touched[core::contract::kMaxVisibleGpus] = {};
  for (uint64_t id : ids) {
    const auto node = nodes_.find(id);
    if (node == nodes_.end() || --node->second.holders > 0) continue;
    Slice& state = slices_[node->second.slice];
    state.held -= node->second.bytes;
    if (!node->second.launched) state.unlaunched -= node->second.bytes;
    touched[node->second.slice] = true;
    nodes_.erase(node);
  }
  for (int slice = 0; slice < core::contract::kMaxVisibleGpus; ++slice) {
    if (touched[slice]) SettleLocked(ledger, slice, /*lower=*/true);
  }
}

void GraphMemory::CountExecs() {
  execs_with_memory_.store(execs_.size(), std::memory_order_relaxed);
}

}  // namespace gpuslice::preload
