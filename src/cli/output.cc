#include "cli/output.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>

namespace gpuslice::cli {
namespace {

void EmitYaml(const nlohmann::json& node, YAML::Emitter& out) {
  switch (node.type()) {
    case nlohmann::json::value_t::object:
      if (node.empty()) out << YAML::Flow;
      out << YAML::BeginMap;
      for (const auto& [key, value] : node.items()) {
        out << YAML::Key << key << YAML::Value;
        EmitYaml(value, out);
      }
      out << YAML::EndMap;
      break;
    case nlohmann::json::value_t::array:
      if (node.empty()) out << YAML::Flow;
      out << YAML::BeginSeq;
      for (const auto& value : node) EmitYaml(value, out);
      out << YAML::EndSeq;
      break;
    case nlohmann::json::value_t::string:
      out << node.get<std::string>();
      break;
    case nlohmann::json::value_t::boolean:
      out << node.get<bool>();
      break;
    case nlohmann::json::value_t::number_integer:
      out << node.get<int64_t>();
      break;
    case nlohmann::json::value_t::number_unsigned:
      out << node.get<uint64_t>();
      break;
    case nlohmann::json::value_t::number_float:
      // The JSON serializer's shortest round-trip form keeps YAML and JSON output identical.
      out << node.dump();
      break;
    default:
      out << YAML::Null;
      break;
  }
}

// A number with an optional sign, currency, and unit: "4", "-1.5", "$12.34", "25%",
// "19.9 GiB". Such cells are right-aligned so their digits line up.
bool LooksNumeric(const std::string& cell) {
  auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
  size_t i = 0;
  if (i < cell.size() && (cell[i] == '-' || cell[i] == '+')) ++i;
  if (i < cell.size() && cell[i] == '$') ++i;
  if (i == cell.size() || !is_digit(cell[i])) return false;
  while (i < cell.size() && (is_digit(cell[i]) || cell[i] == '.' || cell[i] == ',')) ++i;
  if (i < cell.size() && cell[i] == ' ') ++i;
  for (; i < cell.size(); ++i) {
    const char c = cell[i];
    if (!(c == '%' || c == '/' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) return false;
  }
  return true;
}

std::string Plain(double value) {
  char text[32];
  std::snprintf(text, sizeof(text), "%g", value);
  return text;
}

CLI::Validator NumberCheck(std::function<bool(double)> in_range, const std::string& wanted) {
  return CLI::Validator(
      [in_range, wanted](std::string& input) -> std::string {
        double value = 0;
        if (!CLI::detail::lexical_cast(input, value) || !std::isfinite(value) ||
            !in_range(value)) {
          return "'" + input + "' is not " + wanted;
        }
        return "";
      },
      wanted);
}

}  // namespace

std::string FormatFixed(double value, int decimals) {
  const int length = std::snprintf(nullptr, 0, "%.*f", decimals, value);
  if (length <= 0) return "";
  std::string text(static_cast<size_t>(length) + 1, '\0');
  std::snprintf(text.data(), text.size(), "%.*f", decimals, value);
  text.resize(static_cast<size_t>(length));
  return text;
}

CLI::Validator NumberAbove(double low) {
  return NumberCheck([low](double v) { return v > low; }, "a number above " + Plain(low));
}

CLI::Validator NumberAtLeast(double low) {
  return NumberCheck([low](double v) { return v >= low; },
                     "a number of " + Plain(low) + " or more");
}

CLI::Validator NumberAbove(double low, double high) {
  return NumberCheck([low, high](double v) { return v > low && v <= high; },
                     "a number above " + Plain(low) + " and at most " + Plain(high));
}

void AddOutputOption(CLI::App* app, OutputFormat* format) {
  static const std::map<std::string, OutputFormat> kNames = {
      {"table", OutputFormat::kTable}, {"json", OutputFormat::kJson}, {"yaml", OutputFormat::kYaml}};
  app->add_option("-o,--output", *format, "Output format: table, json or yaml")
      ->transform(CLI::CheckedTransformer(kNames, CLI::ignore_case))
      ->default_str("table");
}

void WriteDocument(const nlohmann::json& document, OutputFormat format, std::ostream& out) {
  assert(format != OutputFormat::kTable);
  if (format == OutputFormat::kJson) {
    out << document.dump(2) << '\n';
    return;
  }
  YAML::Emitter emitter;
  EmitYaml(document, emitter);
  out << emitter.c_str() << '\n';
}

Table::Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}

void Table::AddRow(std::vector<std::string> cells) {
  assert(cells.size() == headers_.size());
  rows_.push_back(std::move(cells));
}

void Table::Print(std::ostream& out) const {
  std::vector<size_t> widths(headers_.size());
  for (size_t c = 0; c < headers_.size(); ++c) widths[c] = headers_[c].size();
  for (const auto& row : rows_) {
    for (size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], row[c].size());
  }
  auto print_row = [&](const std::vector<std::string>& row, bool header) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      const std::string padding(widths[c] - row[c].size(), ' ');
      const bool right = !header && LooksNumeric(row[c]);
      line += right ? padding + row[c] : row[c] + padding;
      if (c + 1 < row.size()) line += "  ";
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << line << '\n';
  };
  print_row(headers_, true);
  for (const auto& row : rows_) print_row(row, false);
}

}  // namespace gpuslice::cli
