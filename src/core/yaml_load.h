// The one way gpuslice parses YAML (and JSON) it did not write: manifests and NodePools, the
// device plugin's config and Helm values, simulated-GPU specs. On top of yaml-cpp it refuses
// what yaml-cpp accepts silently or cannot survive:
//   - a key given twice in one mapping ("slices: 2" then "slices: 64": yaml-cpp keeps the
//     first), with the line and column of both;
//   - aliases that expand to far more nodes than the text holds (a "billion laughs" bomb: a
//     1 KB document whose every traversal or re-emission touches billions of nodes);
//   - streams on which yaml-cpp's LoadAll never returns (a document that makes no progress).
// Errors read "<file>:<line>:<column>: <problem>".
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace gpuslice::core {

struct YamlLimits {
  // Nodes aliases may add on top of the nodes written out in the text: every use of an alias
  // counts the whole subtree of its anchor again. A stream may always add this many, and as
  // many more as it has written out before the alias (so a large file that reuses a few
  // anchors is never refused).
  uint64_t alias_nodes = 100'000;
};

// Parses every document of `text`. `file_name` only labels messages. Returns InvalidArgument
// for invalid YAML, a duplicate key or an alias expansion over `limits`. Never throws.
// Thread-safe.
Result<std::vector<YAML::Node>> LoadYamlDocuments(std::string_view text, std::string_view file_name,
                                                  const YamlLimits& limits = {});

// The first document of `text` (a null node when there is none), with the same checks over the
// whole stream.
Result<YAML::Node> LoadYaml(std::string_view text, std::string_view file_name,
                            const YamlLimits& limits = {});

}  // namespace gpuslice::core
