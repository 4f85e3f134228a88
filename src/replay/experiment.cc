#include "replay/experiment.h"

#include <atomic>
#include <chrono>
#include <cmath>
#include <mutex>
#include <sstream>
#include <thread>

#include "replay/fragmentation.h"
#include "replay/internal/random.h"
#include "replay/policy.h"
#include "replay/replay.h"
#include "replay/workload.h"

namespace gpuslice::replay {
namespace {

constexpr uint64_t kPolicyStream = 3;

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

Status ValidateOptions(const ExperimentOptions& options) {
  if (options.policies.empty()) return Status::InvalidArgument("no policy to replay");
  for (const std::string& name : options.policies) {
    if (FindPolicy(name) == nullptr) {
      // MakePolicy() words the error, listing the known names.
      return MakePolicy(name, PolicyContext{}).status();
    }
  }
  if (options.seeds.empty()) return Status::InvalidArgument("no seed to replay with");
  if (!std::isfinite(options.inflate) || options.inflate <= 0) {
    std::ostringstream inflate;
    inflate << options.inflate;
    return Status::InvalidArgument("inflate " + inflate.str() + " is not a positive number");
  }
  if (options.jobs < 0) {
    return Status::InvalidArgument("jobs " + std::to_string(options.jobs) + " is negative");
  }
  return Status::Ok();
}

// Serializes progress reports from the workers.
class ProgressReporter {
 public:
  ProgressReporter(const ExperimentOptions& options, int runs, int64_t pods)
      : callback_(options.on_progress) {
    progress_.runs_total = runs;
    progress_.pods_total = pods;
  }
  void AddPods(int64_t pods) {
    Report([&] { progress_.pods_done += pods; });
  }
  void RunDone() {
    Report([&] { ++progress_.runs_done; });
  }

 private:
  template <typename Update>
  void Report(Update update) {
    if (!callback_) return;
    std::lock_guard<std::mutex> lock(mutex_);
    update();
    callback_(progress_);
  }

  std::function<void(const ExperimentProgress&)> callback_;
  std::mutex mutex_;
  ExperimentProgress progress_;
};

}  // namespace

std::optional<Spread> PolicyResult::At(int x) const {
  std::vector<double> values;
  for (const RunResult& run : runs) {
    if (std::optional<double> value = run.curve.At(x)) values.push_back(*value);
  }
  if (values.empty()) return std::nullopt;
  return Summarize(std::move(values));
}

Result<ExperimentResult> RunExperiment(const std::vector<NodeSpec>& nodes,
                                       const std::vector<PodSpec>& pods,
                                       const ExperimentOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  GPUSLICE_RETURN_IF_ERROR(ValidateOptions(options));
  Result<Cluster> cluster = Cluster::Create(nodes);
  if (!cluster.ok()) return cluster.status();
  if (cluster->gpu_capacity_milli() == 0) {
    return Status::InvalidArgument("the node list has no GPUs");
  }
  if (pods.empty()) return Status::InvalidArgument("the pod list is empty");
  std::vector<PodRequest> trace;
  trace.reserve(pods.size());
  for (const PodSpec& spec : pods) {
    Result<PodRequest> request = cluster->Resolve(spec);
    if (!request.ok()) return request.status();
    trace.push_back(*request);
  }
  const TargetPodMix mix = TargetPodMix::FromPods(trace);

  const size_t seeds = options.seeds.size();
  std::vector<std::vector<PodRequest>> arrivals(seeds);
  int64_t pods_total = 0;
  for (size_t s = 0; s < seeds; ++s) {
    arrivals[s] = ArrivalSequence(trace, cluster->gpu_capacity_milli(),
                                  {.inflate = options.inflate, .seed = options.seeds[s]});
    pods_total +=
        static_cast<int64_t>(arrivals[s].size()) * static_cast<int64_t>(options.policies.size());
  }

  ExperimentResult result;
  result.gpu_capacity_milli = cluster->gpu_capacity_milli();
  result.nodes = static_cast<int>(nodes.size());
  result.trace_pods = static_cast<int64_t>(pods.size());
  for (const std::string& name : options.policies) {
    PolicyResult& policy = result.policies.emplace_back();
    policy.name = name;
    policy.runs.resize(seeds);
  }

  const int runs = static_cast<int>(options.policies.size() * seeds);
  const unsigned hardware = std::max(1u, std::thread::hardware_concurrency());
  result.jobs = std::min(runs, options.jobs > 0 ? options.jobs : static_cast<int>(hardware));
  ProgressReporter progress(options, runs, pods_total);
  std::atomic<int> next_run{0};
  std::mutex error_mutex;
  Status first_error;
  std::atomic<bool> failed{false};

  auto worker = [&] {
    for (int run = next_run++; run < runs && !failed; run = next_run++) {
      const size_t p = static_cast<size_t>(run) / seeds;
      const size_t s = static_cast<size_t>(run) % seeds;
      const uint64_t seed = options.seeds[s];
      const auto run_start = std::chrono::steady_clock::now();
      PolicyContext context{.seed = internal::StreamSeed(seed, kPolicyStream), .target_mix = &mix};
      Result<std::unique_ptr<PlacementPolicy>> policy = MakePolicy(options.policies[p], context);
      int64_t reported = 0;
      ReplayOptions replay_options{.node_order_seed = seed, .on_progress = [&](int64_t done) {
                                     progress.AddPods(done - reported);
                                     reported = done;
                                   }};
      Result<ReplayOutcome> outcome = policy.ok()
                                          ? Replay(*cluster, arrivals[s], **policy, replay_options)
                                          : Result<ReplayOutcome>(policy.status());
      if (!outcome.ok()) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (first_error.ok()) {
          first_error = outcome.status().WithContext("policy '" + options.policies[p] + "', seed " +
                                                     std::to_string(seed));
        }
        failed = true;
        return;
      }
      RunResult& slot = result.policies[p].runs[s];
      slot.seed = seed;
      slot.curve = std::move(outcome->curve);
      slot.pods = outcome->pods;
      slot.failed_pods = outcome->failed_pods;
      slot.seconds = SecondsSince(run_start);
      progress.RunDone();
    }
  };
  std::vector<std::thread> threads;
  for (int i = 1; i < result.jobs; ++i) threads.emplace_back(worker);
  worker();
  for (std::thread& thread : threads) thread.join();
  if (failed) return first_error;
  result.seconds = SecondsSince(start);
  return result;
}

}  // namespace gpuslice::replay
