// The one way gpuslice parses YAML (and JSON) it did not write: manifests and NodePools, the
// device plugin's config and Helm values, simulated-GPU specs. On top of yaml-cpp it refuses
// what yaml-cpp accepts silently or cannot survive:
//   - a key given twice in one mapping ("slices: 2" then "slices: 64": yaml-cpp keeps the
//     first), with the line and column of both;
//   - aliases that expand to far more nodes than the text holds (a "billion laughs" bomb: a
//     1 KB document whose every traversal or re-emission touches billions of nodes);
//   - streams on which yaml-cpp's LoadAll never returns (a document that makes no progress);
//   - a document larger than a bound: yaml-cpp holds some 50 bytes per byte of text, so a
//     stream is built one document at a time (ForEachYamlDocument) and a document is bounded.
// Errors read "<file>:<line>:<column>: <problem>".
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <functional>
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
  // The largest document, in bytes of text. No Kubernetes object is near it (etcd refuses a
  // request over 1.5 MiB); a List of many is the one document that may reach it.
  uint64_t document_bytes = uint64_t{8} << 20;
};

// One document of a stream, parsed on its own. Marks in `node` count lines from the document's
// first line: add `first_line` for the stream's (both 0-based).
struct YamlDocument {
  YAML::Node node;
  int first_line = 0;
  int index = 0;  // 0-based position in the stream
};

// Checks all of `text`, then parses its documents one at a time, handing each to `visit` before
// the next is built, so memory holds one document's nodes at a time. `file_name` only labels
// messages. Returns InvalidArgument for invalid YAML, a duplicate key, an alias expansion or a
// document over `limits`, or the first error `visit` returns. Never throws. Thread-safe.
Status ForEachYamlDocument(std::string_view text, std::string_view file_name,
                           const YamlLimits& limits,
                           const std::function<Status(const YamlDocument&)>& visit);

// Every document of `text` at once (marks count the stream's lines), with the same checks.
Result<std::vector<YAML::Node>> LoadYamlDocuments(std::string_view text, std::string_view file_name,
                                                  const YamlLimits& limits = {});

// The first document of `text` (a null node when there is none), with the same checks over the
// whole stream.
Result<YAML::Node> LoadYaml(std::string_view text, std::string_view file_name,
                            const YamlLimits& limits = {});

}  // namespace gpuslice::core
