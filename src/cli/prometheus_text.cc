#include "cli/prometheus_text.h"

#include <charconv>
#include <cmath>
#include <limits>

namespace gpuslice::cli {
namespace {

bool IsNameStart(char c, bool colon_allowed) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         (colon_allowed && c == ':');
}

bool IsNameChar(char c, bool colon_allowed) {
  return IsNameStart(c, colon_allowed) || (c >= '0' && c <= '9');
}

// Reads one line's tokens; every method leaves `at_` past what it read.
class LineReader {
 public:
  explicit LineReader(std::string_view line) : line_(line) {}

  void SkipBlanks() {
    while (at_ < line_.size() && (line_[at_] == ' ' || line_[at_] == '\t')) ++at_;
  }
  bool AtEnd() const { return at_ >= line_.size(); }
  bool Consume(char c) {
    if (at_ < line_.size() && line_[at_] == c) {
      ++at_;
      return true;
    }
    return false;
  }
  char Peek() const { return at_ < line_.size() ? line_[at_] : '\0'; }

  // A metric name (colons allowed) or a label name (not); empty when none starts here.
  std::string_view Name(bool colon_allowed) {
    const size_t start = at_;
    if (at_ < line_.size() && IsNameStart(line_[at_], colon_allowed)) {
      ++at_;
      while (at_ < line_.size() && IsNameChar(line_[at_], colon_allowed)) ++at_;
    }
    return line_.substr(start, at_ - start);
  }

  // A quoted label value after its opening quote, with \\, \" and \n unescaped.
  Result<std::string> QuotedValue() {
    std::string value;
    while (at_ < line_.size()) {
      const char c = line_[at_++];
      if (c == '"') return value;
      if (c != '\\') {
        value += c;
        continue;
      }
      if (at_ >= line_.size()) break;
      const char escaped = line_[at_++];
      if (escaped == 'n') {
        value += '\n';
      } else if (escaped == '\\' || escaped == '"') {
        value += escaped;
      } else {
        return Status::InvalidArgument(std::string("unknown escape \\") + escaped +
                                       " in a label value");
      }
    }
    return Status::InvalidArgument("a label value has no closing quote");
  }

  // The next run of characters up to a blank or the end.
  std::string_view Word() {
    const size_t start = at_;
    while (at_ < line_.size() && line_[at_] != ' ' && line_[at_] != '\t') ++at_;
    return line_.substr(start, at_ - start);
  }

 private:
  std::string_view line_;
  size_t at_ = 0;
};

Result<double> ParseValue(std::string_view word) {
  if (word == "NaN") return std::numeric_limits<double>::quiet_NaN();
  if (word == "+Inf" || word == "Inf") return std::numeric_limits<double>::infinity();
  if (word == "-Inf") return -std::numeric_limits<double>::infinity();
  std::string_view digits = word;
  if (!digits.empty() && digits[0] == '+') digits.remove_prefix(1);
  double value = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  // from_chars reads "inf" and "nan" in any case; the format spells them only as above.
  if (digits.empty() || error != std::errc() || end != digits.data() + digits.size() ||
      !std::isfinite(value)) {
    return Status::InvalidArgument("value \"" + std::string(word) + "\" is not a number");
  }
  return value;
}

Result<Sample> ParseSample(std::string_view line) {
  LineReader reader(line);
  Sample sample;
  sample.name = reader.Name(true);
  if (sample.name.empty()) {
    return Status::InvalidArgument("a sample must start with a metric name");
  }
  if (reader.Consume('{')) {
    while (true) {
      reader.SkipBlanks();
      if (reader.Consume('}')) break;
      const std::string name(reader.Name(false));
      if (name.empty()) return Status::InvalidArgument("a label name is missing or invalid");
      reader.SkipBlanks();
      if (!reader.Consume('=')) {
        return Status::InvalidArgument("label " + name + " has no '='");
      }
      reader.SkipBlanks();
      if (!reader.Consume('"')) {
        return Status::InvalidArgument("label " + name + "'s value is not quoted");
      }
      Result<std::string> value = reader.QuotedValue();
      if (!value.ok()) return value.status().WithContext("label " + name);
      if (FindLabel(sample, name) != nullptr) {
        return Status::InvalidArgument("label " + name + " is given twice");
      }
      sample.labels.emplace_back(name, *std::move(value));
      reader.SkipBlanks();
      if (reader.Consume(',')) continue;
      if (reader.Consume('}')) break;
      return Status::InvalidArgument("labels must be separated by ',' and closed by '}'");
    }
  }
  reader.SkipBlanks();
  Result<double> value = ParseValue(reader.Word());
  if (!value.ok()) return value.status();
  sample.value = *value;
  reader.SkipBlanks();
  if (!reader.AtEnd()) {
    const std::string_view timestamp = reader.Word();
    int64_t millis = 0;
    const auto [end, error] =
        std::from_chars(timestamp.data(), timestamp.data() + timestamp.size(), millis);
    if (error != std::errc() || end != timestamp.data() + timestamp.size()) {
      return Status::InvalidArgument("timestamp \"" + std::string(timestamp) +
                                     "\" is not a whole number of milliseconds");
    }
    reader.SkipBlanks();
    if (!reader.AtEnd()) return Status::InvalidArgument("text after the timestamp");
  }
  return sample;
}

}  // namespace

const std::string* FindLabel(const Sample& sample, std::string_view name) {
  for (const auto& [label, value] : sample.labels) {
    if (label == name) return &value;
  }
  return nullptr;
}

Result<std::vector<Sample>> ParsePrometheusText(std::string_view text, std::string_view source) {
  if (text.size() > kMaxMetricsBytes) {
    return Status::InvalidArgument(std::string(source) + ": " + std::to_string(text.size()) +
                                   " bytes is more than the " + std::to_string(kMaxMetricsBytes) +
                                   "-byte limit");
  }
  std::vector<Sample> samples;
  size_t line_number = 0;
  while (!text.empty()) {
    ++line_number;
    const size_t newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const size_t first = line.find_first_not_of(" \t");
    if (first == std::string_view::npos || line[first] == '#') continue;
    Result<Sample> sample = ParseSample(line.substr(first));
    if (!sample.ok()) {
      return sample.status().WithContext(std::string(source) + ":" + std::to_string(line_number));
    }
    samples.push_back(*std::move(sample));
  }
  return samples;
}

}  // namespace gpuslice::cli
