#include "replay/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>
#include <string_view>
#include <vector>

#include "replay/policy.h"

namespace gpuslice::replay {
namespace {

// Colour-blind-safe (Okabe-Ito), then greys for anything beyond.
constexpr std::string_view kColours[] = {"#0072B2", "#E69F00", "#009E73", "#CC79A7",
                                         "#56B4E9", "#D55E00", "#000000", "#999999"};

std::string Fixed(double value, int decimals) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.*f", decimals, value);
  return buffer;
}

std::string Escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

int MaxArrived(const ExperimentResult& result) {
  int max_x = 0;
  for (const PolicyResult& policy : result.policies) {
    for (const RunResult& run : policy.runs) max_x = std::max(max_x, run.curve.max_x());
  }
  return max_x;
}

// Maps data coordinates (arrived %, allocation %) to pixels inside the plot area.
struct Frame {
  double left, top, width, height;
  double x_max, y_min, y_max;
  double X(double x) const { return left + width * x / x_max; }
  double Y(double y) const { return top + height * (1 - (y - y_min) / (y_max - y_min)); }
};

}  // namespace

std::string DisplayName(const std::string& policy) {
  const PolicyInfo* info = FindPolicy(policy);
  return info == nullptr ? policy : std::string(info->display_name);
}

std::string RenderCurvesSvg(const ExperimentResult& result, const ChartOptions& options) {
  const int x_max = std::max(10, (MaxArrived(result) + 9) / 10 * 10);
  const double width = options.width;
  const double height = options.height;
  const Frame frame{.left = 70, .top = options.subtitle.empty() ? 50.0 : 70.0,
                    .width = width - 70 - 190, .height = 0,
                    .x_max = static_cast<double>(x_max), .y_min = 0, .y_max = 100};
  Frame plot = frame;
  plot.height = height - plot.top - 60;

  std::string svg;
  auto add = [&](const std::string& text) { svg += text + "\n"; };
  add("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + Fixed(width, 0) + "\" height=\"" +
      Fixed(height, 0) + "\" viewBox=\"0 0 " + Fixed(width, 0) + " " + Fixed(height, 0) +
      "\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"13\">");
  add("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>");
  add("<text x=\"" + Fixed(plot.left, 1) + "\" y=\"28\" font-size=\"18\" font-weight=\"bold\">" +
      Escape(options.title) + "</text>");
  if (!options.subtitle.empty()) {
    add("<text x=\"" + Fixed(plot.left, 1) + "\" y=\"50\" fill=\"#555\">" +
        Escape(options.subtitle) + "</text>");
  }

  // Grid and ticks every 10 %.
  add("<g stroke=\"#e5e5e5\" stroke-width=\"1\">");
  for (int x = 0; x <= x_max; x += 10) {
    add("<line x1=\"" + Fixed(plot.X(x), 1) + "\" y1=\"" + Fixed(plot.Y(0), 1) + "\" x2=\"" +
        Fixed(plot.X(x), 1) + "\" y2=\"" + Fixed(plot.Y(100), 1) + "\"/>");
  }
  for (int y = 0; y <= 100; y += 10) {
    add("<line x1=\"" + Fixed(plot.X(0), 1) + "\" y1=\"" + Fixed(plot.Y(y), 1) + "\" x2=\"" +
        Fixed(plot.X(x_max), 1) + "\" y2=\"" + Fixed(plot.Y(y), 1) + "\"/>");
  }
  add("</g>");
  add("<g fill=\"#333\">");
  for (int x = 0; x <= x_max; x += 10) {
    add("<text x=\"" + Fixed(plot.X(x), 1) + "\" y=\"" + Fixed(plot.Y(0) + 20, 1) +
        "\" text-anchor=\"middle\">" + std::to_string(x) + "</text>");
  }
  for (int y = 0; y <= 100; y += 10) {
    add("<text x=\"" + Fixed(plot.X(0) - 8, 1) + "\" y=\"" + Fixed(plot.Y(y) + 4, 1) +
        "\" text-anchor=\"end\">" + std::to_string(y) + "</text>");
  }
  add("</g>");
  add("<g stroke=\"#333\" stroke-width=\"1.2\"><line x1=\"" + Fixed(plot.X(0), 1) + "\" y1=\"" +
      Fixed(plot.Y(0), 1) + "\" x2=\"" + Fixed(plot.X(x_max), 1) + "\" y2=\"" +
      Fixed(plot.Y(0), 1) + "\"/><line x1=\"" + Fixed(plot.X(0), 1) + "\" y1=\"" +
      Fixed(plot.Y(0), 1) + "\" x2=\"" + Fixed(plot.X(0), 1) + "\" y2=\"" +
      Fixed(plot.Y(100), 1) + "\"/></g>");
  add("<text x=\"" + Fixed(plot.left + plot.width / 2, 1) + "\" y=\"" +
      Fixed(plot.Y(0) + 45, 1) +
      "\" text-anchor=\"middle\">GPU request arrived (% of cluster GPU capacity)</text>");
  add("<text transform=\"translate(22 " + Fixed(plot.top + plot.height / 2, 1) +
      ") rotate(-90)\" text-anchor=\"middle\">GPU allocated (% of capacity)</text>");

  // What a perfect packer would reach: everything that arrives, up to full capacity.
  add("<polyline fill=\"none\" stroke=\"#999\" stroke-dasharray=\"5 4\" points=\"" +
      Fixed(plot.X(0), 1) + "," + Fixed(plot.Y(0), 1) + " " + Fixed(plot.X(100), 1) + "," +
      Fixed(plot.Y(100), 1) + " " + Fixed(plot.X(x_max), 1) + "," + Fixed(plot.Y(100), 1) +
      "\"/>");

  for (size_t p = 0; p < result.policies.size(); ++p) {
    const PolicyResult& policy = result.policies[p];
    const std::string colour(kColours[std::min(p, std::size(kColours) - 1)]);
    std::string median_points, band_top, band_bottom;
    for (int x = 0; x <= x_max; ++x) {
      const std::optional<Spread> spread = policy.At(x);
      if (!spread) continue;
      const std::string px = Fixed(plot.X(x), 1);
      median_points += px + "," + Fixed(plot.Y(spread->median), 1) + " ";
      band_top += px + "," + Fixed(plot.Y(spread->max), 1) + " ";
      band_bottom = px + "," + Fixed(plot.Y(spread->min), 1) + " " + band_bottom;
    }
    add("<polygon fill=\"" + colour + "\" fill-opacity=\"0.15\" stroke=\"none\" points=\"" +
        band_top + band_bottom + "\"/>");
    add("<polyline fill=\"none\" stroke=\"" + colour +
        "\" stroke-width=\"2\" stroke-linejoin=\"round\" points=\"" + median_points + "\"/>");

    const double legend_y = plot.top + 10 + 24.0 * static_cast<double>(p);
    const double legend_x = plot.left + plot.width + 20;
    add("<line x1=\"" + Fixed(legend_x, 1) + "\" y1=\"" + Fixed(legend_y, 1) + "\" x2=\"" +
        Fixed(legend_x + 28, 1) + "\" y2=\"" + Fixed(legend_y, 1) + "\" stroke=\"" + colour +
        "\" stroke-width=\"3\"/>");
    std::string label = DisplayName(policy.name);
    if (std::optional<Spread> at100 = policy.At(100)) label += "  " + Fixed(at100->median, 1);
    add("<text x=\"" + Fixed(legend_x + 36, 1) + "\" y=\"" + Fixed(legend_y + 4, 1) + "\">" +
        Escape(label) + "</text>");
  }
  add("<text x=\"" + Fixed(plot.left + plot.width + 20, 1) + "\" y=\"" +
      Fixed(plot.top + 10 + 24.0 * static_cast<double>(result.policies.size()) + 8, 1) +
      "\" fill=\"#555\" font-size=\"11\">median at 100 %; band: min-max</text>");
  add("</svg>");
  return svg;
}

std::string RenderCurvesCsv(const ExperimentResult& result) {
  std::string csv = "policy,arrived_pct,alloc_pct_median,alloc_pct_min,alloc_pct_max,seeds\n";
  const int x_max = MaxArrived(result);
  for (const PolicyResult& policy : result.policies) {
    for (int x = 0; x <= x_max; ++x) {
      const std::optional<Spread> spread = policy.At(x);
      if (!spread) continue;
      int seeds = 0;
      for (const RunResult& run : policy.runs) seeds += run.curve.At(x).has_value() ? 1 : 0;
      csv += policy.name + "," + std::to_string(x) + "," + Fixed(spread->median, 3) + "," +
             Fixed(spread->min, 3) + "," + Fixed(spread->max, 3) + "," + std::to_string(seeds) +
             "\n";
    }
  }
  return csv;
}

}  // namespace gpuslice::replay
