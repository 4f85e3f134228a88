// Seeded randomness for the replay: the same seed gives the same run on every platform, so
// std::mt19937_64 (whose output the standard fixes) is used with our own range reduction
// (std::uniform_int_distribution differs between standard libraries).
#pragma once

#include <cstdint>
#include <random>
#include <utility>
#include <vector>

namespace gpuslice::replay::internal {

// Derives an independent seed for stream `stream` of a run seeded with `seed` (SplitMix64),
// so the shuffle, the inflation, the node order and a policy's choices do not share a stream.
inline uint64_t StreamSeed(uint64_t seed, uint64_t stream) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ULL * (stream + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// Thread-compatible.
class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}

  // Uniform in [0, bound). REQUIRES: bound > 0.
  uint64_t Below(uint64_t bound) {
    // Rejection keeps every value equally likely (Lemire's multiply-shift).
    unsigned __int128 product = static_cast<unsigned __int128>(engine_()) * bound;
    uint64_t low = static_cast<uint64_t>(product);
    if (low < bound) {
      const uint64_t threshold = -bound % bound;
      while (low < threshold) {
        product = static_cast<unsigned __int128>(engine_()) * bound;
        low = static_cast<uint64_t>(product);
      }
    }
    return static_cast<uint64_t>(product >> 64);
  }

  // Uniform in [0, 1) with 53 random bits.
  double Unit() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }

  // Fisher-Yates.
  template <typename T>
  void Shuffle(std::vector<T>& items) {
    for (size_t i = items.size(); i > 1; --i) std::swap(items[i - 1], items[Below(i)]);
  }

 private:
  std::mt19937_64 engine_;
};

}  // namespace gpuslice::replay::internal
