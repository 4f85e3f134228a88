// Renderings of an experiment's allocation curves: an SVG chart (allocation % against arrived
// %, one line per policy: the median over seeds, with the min-max band) and the same data as
// CSV. Both return text; writing it anywhere is the caller's business.
#pragma once

#include <string>

#include "replay/experiment.h"

namespace gpuslice::replay {

struct ChartOptions {
  std::string title = "GPU allocation while pods arrive";
  std::string subtitle = {};  // e.g. the trace and seeds; omitted when empty
  int width = 960;            // pixels
  int height = 600;
};

// A self-contained SVG document: axes with ticks, a grid, the ideal line (everything that
// arrives is allocated), a legend, and per policy the median allocation % at each arrived %
// with a translucent band from the seeds' min to max.
std::string RenderCurvesSvg(const ExperimentResult& result, const ChartOptions& options);

// One row per policy and arrived %: `policy,arrived_pct,alloc_pct_median,alloc_pct_min,
// alloc_pct_max,seeds` (seeds: how many seeds reach that arrived %).
std::string RenderCurvesCsv(const ExperimentResult& result);

// The display name of a policy ("FGD" for "fgd"); the name itself when unknown.
std::string DisplayName(const std::string& policy);

}  // namespace gpuslice::replay
