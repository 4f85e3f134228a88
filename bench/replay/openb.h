// Where the benchmarks find the openb trace, and the results its paper published for it.
#pragma once

#include <array>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace gpuslice::replay::bench {

// $GPUSLICE_OPENB_DIR, else ../shared/traces/openb next to the source tree.
inline std::string OpenbDirectory() {
  if (const char* dir = std::getenv("GPUSLICE_OPENB_DIR")) return dir;
  return std::string(GPUSLICE_SOURCE_DIR) + "/../shared/traces/openb";
}

inline std::string NodeListPath() { return OpenbDirectory() + "/openb_node_list_gpu_node.csv"; }
inline std::string PodListPath(std::string_view trace) {
  return OpenbDirectory() + "/openb_pod_list_" + std::string(trace) + ".csv";
}

// The traces of the openb folder, in the order the README lists them.
inline constexpr std::array<std::string_view, 10> kTraces = {
    "default",    "cpu050",    "gpushare20", "gpushare40", "gpushare60",
    "gpushare80", "gpuspec10", "gpuspec20",  "multigpu20", "multigpu30"};

// The policies with published results, in the published table's column order.
inline constexpr std::array<std::string_view, 6> kPublishedPolicies = {
    "random", "dot-product", "clustering", "packing", "best-fit", "fgd"};

struct Published {
  std::string_view trace;
  // Median GPU allocation % at x = 100 and x = 130 per policy of kPublishedPolicies.
  std::array<std::array<double, 2>, 6> at;
};

// Weng et al., USENIX ATC '23, as tabulated in the trace's README (median of seeds 42-51).
inline constexpr std::array<Published, 9> kPublished = {{
    {"default",
     {{{86.2, 87.4}, {90.6, 90.8}, {91.6, 91.8}, {91.8, 92.1}, {92.9, 93.1}, {95.2, 95.4}}}},
    {"cpu050",
     {{{89.0, 91.2}, {93.1, 93.3}, {93.5, 93.8}, {93.5, 93.8}, {93.6, 93.8}, {95.0, 95.2}}}},
    {"gpushare40",
     {{{85.0, 86.0}, {89.3, 89.6}, {89.8, 90.1}, {89.8, 90.1}, {91.5, 91.7}, {94.0, 94.1}}}},
    {"gpushare60",
     {{{82.8, 83.7}, {86.8, 87.2}, {87.0, 87.2}, {87.2, 87.5}, {89.1, 89.3}, {91.3, 91.4}}}},
    {"gpushare80",
     {{{80.6, 81.2}, {84.1, 84.5}, {84.5, 84.9}, {84.7, 85.1}, {86.7, 87.1}, {89.1, 89.3}}}},
    {"gpuspec10",
     {{{86.3, 87.5}, {90.2, 90.4}, {91.9, 92.2}, {92.2, 92.4}, {93.1, 93.3}, {94.7, 94.9}}}},
    {"gpuspec20",
     {{{86.1, 87.4}, {88.3, 90.0}, {89.1, 92.2}, {89.4, 93.0}, {88.5, 93.3}, {94.7, 94.9}}}},
    {"multigpu20",
     {{{86.8, 88.7}, {91.8, 92.0}, {93.4, 93.6}, {93.5, 93.8}, {93.7, 93.9}, {95.5, 95.7}}}},
    {"multigpu30",
     {{{86.6, 89.2}, {93.0, 93.2}, {94.5, 94.7}, {94.8, 95.0}, {94.5, 94.6}, {96.4, 96.5}}}},
}};

inline std::optional<Published> FindPublished(std::string_view trace) {
  for (const Published& published : kPublished) {
    if (published.trace == trace) return published;
  }
  return std::nullopt;
}

}  // namespace gpuslice::replay::bench
