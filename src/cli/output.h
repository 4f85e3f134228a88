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
