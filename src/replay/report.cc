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
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
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
  int x_min, x_max, y_min, y_max, tick;
  double X(double x) const { return left + width * (x - x_min) / (x_max - x_min); }
  double Y(double y) const { return top + height * (1 - (y - y_min) / (y_max - y_min)); }
};

// Every policy allocates all that arrives until the cluster fills up, so the curves only part
// near the top: the axes start 10 points below the lowest final allocation (a multiple of 5).
Frame ChooseFrame(const ExperimentResult& result, const ChartOptions& options) {
  const int x_max = std::max(10, (MaxArrived(result) + 9) / 10 * 10);
  double lowest_final = 100;
  for (const PolicyResult& policy : result.policies) {
    for (int x = x_max; x >= 0; --x) {
      if (std::optional<Spread> spread = policy.At(x)) {
        lowest_final = std::min(lowest_final, spread->min);
        break;
      }
    }
  }
  const int from = std::clamp(static_cast<int>(std::floor((lowest_final - 10) / 5)) * 5, 0,
                              std::min(x_max, 100) - 10);
  Frame frame;
  frame.left = 70;
  frame.top = options.subtitle.empty() ? 50 : 70;
  frame.width = options.width - frame.left - 210;
  frame.height = options.height - frame.top - 60;
  frame.x_min = frame.y_min = from;
  frame.x_max = x_max;
  frame.y_max = 100;
  frame.tick = x_max - from > 60 ? 10 : 5;
  return frame;
}

}  // namespace

std::string DisplayName(const std::string& policy) {
  const PolicyInfo* info = FindPolicy(policy);
  return info == nullptr ? policy : std::string(info->display_name);
}

std::string RenderCurvesSvg(const ExperimentResult& result, const ChartOptions& options) {
  const Frame plot = ChooseFrame(result, options);
  const std::string width = Fixed(options.width, 0);
  const std::string height = Fixed(options.height, 0);
  std::string svg;
  auto add = [&](const std::string& text) { svg += text + "\n"; };
  auto line = [&](double x1, double y1, double x2, double y2) {
    add("<line x1=\"" + Fixed(x1, 1) + "\" y1=\"" + Fixed(y1, 1) + "\" x2=\"" + Fixed(x2, 1) +
        "\" y2=\"" + Fixed(y2, 1) + "\"/>");
  };
  auto text = [&](double x, double y, const std::string& attributes, const std::string& body) {
    add("<text x=\"" + Fixed(x, 1) + "\" y=\"" + Fixed(y, 1) + "\"" + attributes + ">" +
        Escape(body) + "</text>");
  };

  add("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + width + "\" height=\"" + height +
      "\" viewBox=\"0 0 " + width + " " + height +
      "\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"13\">");
  add("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>");
  text(plot.left, 28, " font-size=\"18\" font-weight=\"bold\"", options.title);
  if (!options.subtitle.empty()) text(plot.left, 50, " fill=\"#555\"", options.subtitle);

  add("<g stroke=\"#e5e5e5\" stroke-width=\"1\">");
  for (int x = plot.x_min; x <= plot.x_max; x += plot.tick) {
    line(plot.X(x), plot.Y(plot.y_min), plot.X(x), plot.Y(plot.y_max));
  }
  for (int y = plot.y_min; y <= plot.y_max; y += plot.tick) {
    line(plot.X(plot.x_min), plot.Y(y), plot.X(plot.x_max), plot.Y(y));
  }
  add("</g>");
  add("<g fill=\"#333\">");
  for (int x = plot.x_min; x <= plot.x_max; x += plot.tick) {
    text(plot.X(x), plot.Y(plot.y_min) + 20, " text-anchor=\"middle\"", std::to_string(x));
  }
  for (int y = plot.y_min; y <= plot.y_max; y += plot.tick) {
    text(plot.X(plot.x_min) - 8, plot.Y(y) + 4, " text-anchor=\"end\"", std::to_string(y));
  }
  text(plot.left + plot.width / 2, plot.Y(plot.y_min) + 45, " text-anchor=\"middle\"",
       "GPU request arrived (% of cluster GPU capacity)");
  add("<text transform=\"translate(22 " + Fixed(plot.top + plot.height / 2, 1) +
      ") rotate(-90)\" text-anchor=\"middle\">GPU allocated (% of capacity)</text>");
  add("</g>");
  add("<g stroke=\"#333\" stroke-width=\"1.2\">");
  line(plot.X(plot.x_min), plot.Y(plot.y_min), plot.X(plot.x_max), plot.Y(plot.y_min));
  line(plot.X(plot.x_min), plot.Y(plot.y_min), plot.X(plot.x_min), plot.Y(plot.y_max));
  add("</g>");

  // Curves start below the visible range on traces where pods fail early: clip to the plot.
  add("<clipPath id=\"plot-area\"><rect x=\"" + Fixed(plot.left, 1) + "\" y=\"" +
      Fixed(plot.top, 1) + "\" width=\"" + Fixed(plot.width, 1) + "\" height=\"" +
      Fixed(plot.height, 1) + "\"/></clipPath>");
  add("<g clip-path=\"url(#plot-area)\">");
  // What a perfect packer would reach: everything that arrives, up to full capacity.
  add("<polyline fill=\"none\" stroke=\"#999\" stroke-dasharray=\"5 4\" points=\"" +
      Fixed(plot.X(plot.x_min), 1) + "," + Fixed(plot.Y(plot.y_min), 1) + " " +
      Fixed(plot.X(100), 1) + "," + Fixed(plot.Y(100), 1) + " " + Fixed(plot.X(plot.x_max), 1) +
      "," + Fixed(plot.Y(100), 1) + "\"/>");

  for (size_t p = 0; p < result.policies.size(); ++p) {
    const PolicyResult& policy = result.policies[p];
    const std::string colour(kColours[std::min(p, std::size(kColours) - 1)]);
    std::string median_points, band_top, band_bottom;
    for (int x = plot.x_min; x <= plot.x_max; ++x) {
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
  }
  add("</g>");

  const double legend_x = plot.left + plot.width + 20;
  for (size_t p = 0; p < result.policies.size(); ++p) {
    const PolicyResult& policy = result.policies[p];
    const std::string colour(kColours[std::min(p, std::size(kColours) - 1)]);
    const double legend_y = plot.top + 10 + 24.0 * static_cast<double>(p);
    add("<line x1=\"" + Fixed(legend_x, 1) + "\" y1=\"" + Fixed(legend_y, 1) + "\" x2=\"" +
        Fixed(legend_x + 28, 1) + "\" y2=\"" + Fixed(legend_y, 1) + "\" stroke=\"" + colour +
        "\" stroke-width=\"3\"/>");
    std::string label = DisplayName(policy.name);
    if (std::optional<Spread> at100 = policy.At(100)) label += "  " + Fixed(at100->median, 1);
    text(legend_x + 36, legend_y + 4, "", label);
  }
  const double note_y = plot.top + 10 + 24.0 * static_cast<double>(result.policies.size()) + 8;
  text(legend_x, note_y, " fill=\"#555\" font-size=\"11\"", "number: median at 100 %");
  text(legend_x, note_y + 15, " fill=\"#555\" font-size=\"11\"", "line: median; band: min-max");
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
