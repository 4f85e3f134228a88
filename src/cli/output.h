// Output formats shared by the subcommands: a human table by default, or a machine-readable
// document (-o json | -o yaml) built once as JSON and emitted in either notation.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <ostream>
#include <string>
#include <vector>

namespace gpuslice::cli {

enum class OutputFormat { kTable, kJson, kYaml };

// Adds "-o,--output table|json|yaml" to `app`, writing the choice to `*format`.
void AddOutputOption(CLI::App* app, OutputFormat* format);

// Writes `document` as pretty JSON or as block-style YAML, ending with a newline.
// REQUIRES: format != OutputFormat::kTable.
void WriteDocument(const nlohmann::json& document, OutputFormat format, std::ostream& out);

// `value` with `decimals` digits after the point, however large ("%.2f" without a buffer
// that cuts it short).
std::string FormatFixed(double value, int decimals);

// Checks for numeric options whose messages name the bounds as people write them ("a number
// above 0"); CLI11's PositiveNumber and NonNegativeNumber print a double's maximum with 309
// digits. NaN and infinity are refused.
CLI::Validator NumberAbove(double low);             // low < value
CLI::Validator NumberAtLeast(double low);           // low <= value
CLI::Validator NumberAbove(double low, double high);  // low < value <= high

// A text table with aligned columns. Cells that look numeric are right-aligned.
class Table {
 public:
  explicit Table(std::vector<std::string> headers);

  // REQUIRES: cells.size() == number of headers.
  void AddRow(std::vector<std::string> cells);

  void Print(std::ostream& out) const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace gpuslice::cli
