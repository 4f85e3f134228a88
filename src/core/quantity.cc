#include "core/quantity.h"

#include <array>
#include <cstdio>
#include <limits>
#include <optional>
#include <utility>

namespace gpuslice::core {
namespace {

// Twenty significant digits cover every int64 value; digits beyond them only decide whether
// the value is exactly representable, which `inexact_` records for rounding.
constexpr int kMaxDigits = 20;

struct Suffix {
  std::string_view text;
  int decimal_exponent;
  int binary_exponent;
};

constexpr std::array<Suffix, 16> kSuffixes = {{
    {"", 0, 0},    {"n", -9, 0},  {"u", -6, 0},  {"m", -3, 0},  {"k", 3, 0},   {"M", 6, 0},
    {"G", 9, 0},   {"T", 12, 0},  {"P", 15, 0},  {"E", 18, 0},  {"Ki", 0, 10}, {"Mi", 0, 20},
    {"Gi", 0, 30}, {"Ti", 0, 40}, {"Pi", 0, 50}, {"Ei", 0, 60},
}};

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Parses "e<int>" / "E<int>" (sign allowed) into a decimal exponent.
std::optional<int64_t> ParseExponent(std::string_view suffix) {
  if (suffix.size() < 2 || (suffix[0] != 'e' && suffix[0] != 'E')) return std::nullopt;
  size_t pos = 1;
  bool negative = false;
  if (suffix[pos] == '+' || suffix[pos] == '-') {
    negative = suffix[pos] == '-';
    ++pos;
  }
  if (pos == suffix.size()) return std::nullopt;
  int64_t value = 0;
  for (; pos < suffix.size(); ++pos) {
    if (!IsDigit(suffix[pos])) return std::nullopt;
    value = value * 10 + (suffix[pos] - '0');
    // Kubernetes reads the exponent as a 32-bit integer.
    if (value > std::numeric_limits<int32_t>::max()) return std::nullopt;
  }
  return negative ? -value : value;
}

Status Invalid(std::string_view text, std::string_view why) {
  std::string msg = "quantity \"";
  msg += text;
  msg += "\" is invalid: ";
  msg += why;
  return Status::InvalidArgument(std::move(msg));
}

}  // namespace

Result<Quantity> Quantity::Parse(std::string_view text) {
  if (text.empty()) return Invalid(text, "it is empty");
  Quantity q;
  q.text_ = std::string(text);
  size_t pos = 0;
  if (text[pos] == '+' || text[pos] == '-') {
    q.negative_ = text[pos] == '-';
    ++pos;
  }
  int64_t exponent = 0;
  int significant = 0;
  int digits = 0;
  bool in_fraction = false;
  for (; pos < text.size(); ++pos) {
    const char c = text[pos];
    if (c == '.') {
      if (in_fraction) return Invalid(text, "it has two decimal points");
      in_fraction = true;
      continue;
    }
    if (!IsDigit(c)) break;
    ++digits;
    const int d = c - '0';
    if (q.mantissa_ == 0 && d == 0) {
      if (in_fraction) --exponent;
    } else if (significant < kMaxDigits) {
      q.mantissa_ = q.mantissa_ * 10 + static_cast<unsigned>(d);
      ++significant;
      if (in_fraction) --exponent;
    } else {
      if (d != 0) q.inexact_ = true;
      if (!in_fraction) ++exponent;
    }
  }
  if (digits == 0) return Invalid(text, "it has no digits");

  const std::string_view suffix = text.substr(pos);
  bool matched = false;
  for (const Suffix& s : kSuffixes) {
    if (s.text == suffix) {
      exponent += s.decimal_exponent;
      q.binary_exponent_ = s.binary_exponent;
      matched = true;
      break;
    }
  }
  if (!matched) {
    std::optional<int64_t> e = ParseExponent(suffix);
    if (!e) {
      return Invalid(text, "unknown suffix \"" + std::string(suffix) +
                               "\" (use one of n u m k M G T P E Ki Mi Gi Ti Pi Ei or e<N>)");
    }
    exponent += *e;
  }
  if (exponent > std::numeric_limits<int32_t>::max() ||
      exponent < std::numeric_limits<int32_t>::min()) {
    return Invalid(text, "its exponent is out of range");
  }
  q.decimal_exponent_ = static_cast<int>(exponent);
  return q;
}

Result<int64_t> Quantity::Scaled(int decimal_scale) const {
  using u128 = unsigned __int128;
  constexpr u128 kMax = static_cast<u128>(std::numeric_limits<int64_t>::max());
  auto out_of_range = [&] {
    return Status::InvalidArgument("quantity \"" + text_ + "\" is out of range");
  };
  // mantissa < 10^20 < 2^67 and binary_exponent <= 60, so this cannot overflow 128 bits.
  u128 value = mantissa_ << binary_exponent_;
  const int64_t exponent = static_cast<int64_t>(decimal_exponent_) + decimal_scale;
  if (exponent >= 0) {
    for (int64_t i = 0; i < exponent && value != 0; ++i) {
      value *= 10;
      if (value > kMax) return out_of_range();
    }
    if (value > kMax) return out_of_range();
  } else if (exponent < -38) {
    value = (value != 0 || inexact_) ? 1 : 0;
  } else {
    u128 divisor = 1;
    for (int64_t i = 0; i < -exponent; ++i) divisor *= 10;
    const bool remainder = value % divisor != 0 || inexact_;
    value = value / divisor + (remainder ? 1 : 0);
    if (value > kMax) return out_of_range();
  }
  const auto magnitude = static_cast<int64_t>(value);
  return negative_ ? -magnitude : magnitude;
}

std::string FormatBytes(uint64_t bytes) {
  static constexpr std::array<std::pair<const char*, int>, 6> kUnits = {
      {{"Ei", 60}, {"Pi", 50}, {"Ti", 40}, {"Gi", 30}, {"Mi", 20}, {"Ki", 10}}};
  if (bytes != 0) {
    for (const auto& [unit, shift] : kUnits) {
      const uint64_t size = uint64_t{1} << shift;
      if (bytes % size == 0) return std::to_string(bytes / size) + unit;
    }
  }
  return std::to_string(bytes);
}

std::string HumanBytes(uint64_t bytes) {
  static constexpr std::array<const char*, 5> kUnits = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  size_t unit = 0;
  while (value >= 1024.0 && unit + 1 < kUnits.size()) {
    value /= 1024.0;
    ++unit;
  }
  char buffer[32];
  if (unit == 0) {
    std::snprintf(buffer, sizeof(buffer), "%llu B", static_cast<unsigned long long>(bytes));
  } else {
    std::snprintf(buffer, sizeof(buffer), "%.1f %s", value, kUnits[unit]);
  }
  return buffer;
}

}  // namespace gpuslice::core
