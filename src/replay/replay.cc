#include "replay/replay.h"

#include <limits>
#include <numeric>
#include <optional>
#include <unordered_map>

#include "replay/internal/random.h"

namespace gpuslice::replay {
namespace {

constexpr uint64_t kNodeOrderStream = 2;

struct RequestHash {
  size_t operator()(const PodRequest& pod) const {
    uint64_t h = static_cast<uint64_t>(pod.cpu_milli);
    for (uint64_t part : {static_cast<uint64_t>(pod.memory_mib), static_cast<uint64_t>(pod.num_gpu),
                          static_cast<uint64_t>(pod.gpu_milli), pod.models.mask,
                          static_cast<uint64_t>(pod.models.any)}) {
      h = (h ^ part) * 0x100000001B3ULL + 0x9E3779B97F4A7C15ULL;
    }
    return h;
  }
};

// Remembers each node's score for each distinct request while the node is unchanged, so a
// run scores only the nodes that changed since the request last arrived.
class ScoreCache {
 public:
  ScoreCache(const std::vector<PodRequest>& arrivals, size_t nodes) : nodes_(nodes) {
    std::unordered_map<PodRequest, int, RequestHash> ids;
    request_ids_.reserve(arrivals.size());
    for (const PodRequest& pod : arrivals) {
      request_ids_.push_back(ids.emplace(pod, static_cast<int>(ids.size())).first->second);
    }
    entries_.resize(ids.size() * nodes_);
  }

  struct Entry {
    uint64_t version_plus_one = 0;  // 0: empty
    double score = 0;
  };
  Entry& At(size_t arrival, size_t node) { return entries_[request_ids_[arrival] * nodes_ + node]; }

 private:
  size_t nodes_;
  std::vector<int> request_ids_;
  std::vector<Entry> entries_;
};

constexpr double kDoesNotFit = -std::numeric_limits<double>::infinity();

}  // namespace

Result<ReplayOutcome> Replay(Cluster cluster, const std::vector<PodRequest>& arrivals,
                             PlacementPolicy& policy, const ReplayOptions& options) {
  if (cluster.gpu_capacity_milli() <= 0) {
    return Status::FailedPrecondition("the cluster has no GPUs to replay against");
  }
  const size_t node_count = cluster.nodes().size();
  std::vector<size_t> order(node_count);
  std::iota(order.begin(), order.end(), size_t{0});
  internal::Rng(internal::StreamSeed(options.node_order_seed, kNodeOrderStream)).Shuffle(order);

  const bool reuse_scores = policy.ScoresAreReusable();
  std::optional<ScoreCache> cache;
  if (reuse_scores) cache.emplace(arrivals, node_count);

  ReplayOutcome outcome{AllocationCurve(cluster.gpu_capacity_milli())};
  for (size_t arrival = 0; arrival < arrivals.size(); ++arrival) {
    const PodRequest& pod = arrivals[arrival];
    double best_score = kDoesNotFit;
    size_t best = node_count;
    for (size_t index : order) {
      const Node& node = cluster.node(index);
      double score;
      if (reuse_scores) {
        ScoreCache::Entry& entry = cache->At(arrival, index);
        if (entry.version_plus_one != node.version + 1) {
          entry.score = Fits(node, pod) ? policy.ScoreNode(node, pod) : kDoesNotFit;
          entry.version_plus_one = node.version + 1;
        }
        score = entry.score;
      } else {
        score = Fits(node, pod) ? policy.ScoreNode(node, pod) : kDoesNotFit;
      }
      if (score > best_score) {
        best_score = score;
        best = index;
      }
    }
    ++outcome.pods;
    outcome.arrived_gpu_milli += pod.TotalGpuMilli();
    if (best == node_count) {
      ++outcome.failed_pods;
    } else {
      const GpuMask gpus = policy.ChooseGpus(cluster.node(best), pod);
      if (Status placed = cluster.Allocate(best, pod, gpus); !placed.ok()) {
        return Status::Internal("the policy chose GPUs node '" + cluster.node(best).name +
                                "' cannot give: " + placed.message());
      }
    }
    outcome.curve.Add(outcome.arrived_gpu_milli, cluster.gpu_allocated_milli());
    if (options.on_progress && options.progress_every > 0 &&
        outcome.pods % options.progress_every == 0) {
      options.on_progress(outcome.pods);
    }
  }
  outcome.allocated_gpu_milli = cluster.gpu_allocated_milli();
  if (options.on_progress) options.on_progress(outcome.pods);
  return outcome;
}

}  // namespace gpuslice::replay
