// Constructors of the policies behind MakePolicy(). Private to src/replay.
#pragma once

#include <cstdint>
#include <memory>

#include "replay/fragmentation.h"
#include "replay/policy.h"

namespace gpuslice::replay::internal {

// The published baselines, as the FGD paper's reference simulator scores them.
std::unique_ptr<PlacementPolicy> MakeRandomPolicy(uint64_t seed);
std::unique_ptr<PlacementPolicy> MakeBestFitPolicy();
std::unique_ptr<PlacementPolicy> MakeDotProductPolicy();
std::unique_ptr<PlacementPolicy> MakeGpuPackingPolicy();
std::unique_ptr<PlacementPolicy> MakeGpuClusteringPolicy();

// FGD as published: the placement that least increases the node's fragmentation for the most
// frequent shapes of `mix` covering 95 % of it.
std::unique_ptr<PlacementPolicy> MakeFgdPolicy(const TargetPodMix& mix);

// gpuslice's FGD-Host: FGD over every shape of `mix`, with the GPUs a node strands for lack
// of CPU or memory counted as fragmentation too.
std::unique_ptr<PlacementPolicy> MakeFgdHostPolicy(const TargetPodMix& mix);

}  // namespace gpuslice::replay::internal
