// Feeds mutated configs to the parser: whatever the bytes, it returns a Status (never crashes,
// never throws), and whatever it accepts formats back to a document it accepts again.
#include <gtest/gtest.h>

#include <string>

#include "core/config.h"
#include "fakes/text_mutator.h"

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

TEST(ConfigFuzz, MutatedConfigsNeverCrashAndAcceptedOnesRoundTrip) {
  testing::TextMutator mutator(20261123, ":-[]{}#&*!|>'\"%@`,? \n\t0123456789abcvVxX.");
  int accepted = 0;
  for (int i = 0; i < 3000; ++i) {
    const std::string text = mutator.Mutate(kSeedConfig);
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
