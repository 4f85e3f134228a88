#include "preload/graph_memory.h"

#include <algorithm>

namespace gpuslice::preload {

void GraphMemory::Added(uint64_t graph, Allocation allocation) {
  std::lock_guard<std::mutex> lock(mutex_);
  const uint64_t id = ++next_id_;
  held_[id] = Held{allocation, 1};
  graphs_[graph].push_back(id);
}

void GraphMemory::Instantiated(uint64_t graph, uint64_t exec) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto found = graphs_.find(graph);
  if (found == graphs_.end()) return;  // no memory nodes: nothing to hold
  for (uint64_t id : found->second) ++held_[id].holders;
  execs_[exec] = found->second;
}

std::vector<Allocation> GraphMemory::GraphDestroyed(uint64_t graph) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto found = graphs_.find(graph);
  if (found == graphs_.end()) return {};
  const std::vector<uint64_t> ids = std::move(found->second);
  graphs_.erase(found);
  return Release(ids);
}

std::vector<Allocation> GraphMemory::ExecDestroyed(uint64_t exec) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto found = execs_.find(exec);
  if (found == execs_.end()) return {};
  const std::vector<uint64_t> ids = std::move(found->second);
  execs_.erase(found);
  return Release(ids);
}

void GraphMemory::Captured(uint64_t capture, uint64_t stream, Allocation allocation) {
  std::lock_guard<std::mutex> lock(mutex_);
  Capture& captured = captures_[capture];
  if (std::find(captured.streams.begin(), captured.streams.end(), stream) ==
      captured.streams.end()) {
    captured.streams.push_back(stream);
  }
  captured.allocations.push_back(allocation);
}

void GraphMemory::CaptureEnded(uint64_t capture, uint64_t graph) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto found = captures_.find(capture);
  if (found == captures_.end()) return;
  std::vector<uint64_t>& ids = graphs_[graph];
  for (const Allocation& allocation : found->second.allocations) {
    const uint64_t id = ++next_id_;
    held_[id] = Held{allocation, 1};
    ids.push_back(id);
  }
  captures_.erase(found);
}

std::vector<Allocation> GraphMemory::CaptureFailed(uint64_t capture) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto found = captures_.find(capture);
  if (found == captures_.end()) return {};
  std::vector<Allocation> failed = std::move(found->second.allocations);
  captures_.erase(found);
  return failed;
}

std::vector<Allocation> GraphMemory::CaptureFailedOn(uint64_t stream) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<Allocation> failed;
  for (auto capture = captures_.begin(); capture != captures_.end();) {
    const std::vector<uint64_t>& streams = capture->second.streams;
    if (std::find(streams.begin(), streams.end(), stream) == streams.end()) {
      ++capture;
      continue;
    }
    failed.insert(failed.end(), capture->second.allocations.begin(),
                  capture->second.allocations.end());
    capture = captures_.erase(capture);
  }
  return failed;
}

std::vector<Allocation> GraphMemory::Release(const std::vector<uint64_t>& ids) {
  std::vector<Allocation> released;
  for (uint64_t id : ids) {
    const auto held = held_.find(id);
    if (--held->second.holders > 0) continue;
    released.push_back(held->second.allocation);
    held_.erase(held);
  }
  return released;
}

}  // namespace gpuslice::preload
