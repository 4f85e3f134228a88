// The fuzz targets: each runs one input through a parser of text or files gpuslice takes from
// its users, and aborts (a finding) only when a result breaks a promise the parser makes. The
// same functions run under libFuzzer (entry.cc, the `fuzz` ctest) and over the committed
// corpora in the normal suite (corpus_test.cc), so every input a fuzzer once crashed on stays a
// regression test.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace gpuslice::fuzz {

// Kubernetes manifests (kube::ParseManifests), and NodePools written back (kube::writer).
int Manifest(const uint8_t* data, size_t size);
// The device plugin's config (core::ParseConfig) and Helm values (plan::ReadPluginConfig).
int PluginConfig(const uint8_t* data, size_t size);
// The instance catalog CSV (plan::ParseCatalog).
int Catalog(const uint8_t* data, size_t size);
// The trace's node and pod lists (replay::ParseNodeList, replay::ParsePodList).
int Trace(const uint8_t* data, size_t size);
// A simulated node's spec, as a string or a YAML document (sim::ParseSpec*).
int SimSpec(const uint8_t* data, size_t size);
// A simulated node's state file with the input's patches applied, opened and used.
int SimState(const uint8_t* data, size_t size);
// An accounting region file (core::region::CheckLayout, mapping it as libgpuslice does).
int Region(const uint8_t* data, size_t size);
// libgpuslice's environment and limits file (preload::ParseOptions).
int PreloadEnv(const uint8_t* data, size_t size);

struct Target {
  std::string_view name;  // also the corpus directory, tests/fuzz/corpus/<name>
  int (*run)(const uint8_t* data, size_t size);
};

inline constexpr Target kTargets[] = {
    {"manifest", &Manifest}, {"plugin_config", &PluginConfig}, {"catalog", &Catalog},
    {"trace", &Trace},       {"sim_spec", &SimSpec},           {"sim_state", &SimState},
    {"region", &Region},     {"preload_env", &PreloadEnv},
};

}  // namespace gpuslice::fuzz
