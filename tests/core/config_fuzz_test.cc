// Feeds mutated configs to the parser: whatever the bytes, it returns a Status (never crashes,
// never throws), and whatever it accepts formats back to a document it accepts again.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "core/config.h"

namespace gpuslice::core {
namespace {

constexpr const char* kSeedConfig = R"(version: v1
allocationPolicy: packed
health: {enabled: true, ignoredXids: [74], recoveryWindow: 5m}
library: {hostDir: /var/lib/gpuslice/lib}
defaultProfile: {slices: 2, resourceName: nvidia.com/gpu}
profiles:
- name: h100
  match: {models: ["*H100*"]}
  slices: 4
  reservedMemory: 512Mi
- name: pinned
  match: {uuids: [GPU-1234]}
  injection: env
)";

std::string Mutate(std::string text, std::mt19937& rng) {
  static const std::string kAlphabet = ":-[]{}#&*!|>'\"%@`,? \n\t0123456789abcvVxX.";
  const int edits = std::uniform_int_distribution<int>(1, 6)(rng);
  for (int i = 0; i < edits && !text.empty(); ++i) {
    const size_t pos = std::uniform_int_distribution<size_t>(0, text.size() - 1)(rng);
    const char c = kAlphabet[std::uniform_int_distribution<size_t>(0, kAlphabet.size() - 1)(rng)];
    switch (std::uniform_int_distribution<int>(0, 3)(rng)) {
      case 0:
        text[pos] = c;
        break;
      case 1:
        text.insert(text.begin() + static_cast<std::ptrdiff_t>(pos), c);
        break;
      case 2:
        text.erase(pos, std::uniform_int_distribution<size_t>(1, 8)(rng));
        break;
      default:
        text.insert(pos, text.substr(pos / 2, 16));
        break;
    }
  }
  return text;
}

TEST(ConfigFuzz, MutatedConfigsNeverCrashAndAcceptedOnesRoundTrip) {
  std::mt19937 rng(20261123);
  int accepted = 0;
  for (int i = 0; i < 3000; ++i) {
    const std::string text = Mutate(kSeedConfig, rng);
    Result<Config> config = ParseConfig(text, "fuzz.yaml");
    if (!config.ok()) {
      EXPECT_EQ(config.status().message().rfind("fuzz.yaml", 0), 0u) << config.status().message();
      continue;
    }
    ++accepted;
    Result<Config> again = ParseConfig(FormatConfig(*config), "formatted.yaml");
    ASSERT_TRUE(again.ok()) << again.status().ToString() << "\nfrom:\n" << text;
    EXPECT_EQ(FormatConfig(*again), FormatConfig(*config));
  }
  // The mutations are small enough that some survive: the round-trip check is exercised.
  EXPECT_GT(accepted, 50);
}

}  // namespace
}  // namespace gpuslice::core
