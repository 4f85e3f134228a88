#include "core/duration.h"

#include <array>
#include <cstdint>
#include <limits>
#include <utility>

namespace gpuslice::core {
namespace {

struct Unit {
  std::string_view suffix;
  int64_t millis;
};
// Longest suffix first so "ms" is not read as "m".
constexpr std::array<Unit, 4> kUnits = {{{"ms", 1}, {"h", 3600000}, {"m", 60000}, {"s", 1000}}};

}  // namespace

Result<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  auto invalid = [&](std::string_view why) {
    return Status::InvalidArgument("duration \"" + std::string(text) + "\" is invalid: " +
                                   std::string(why));
  };
  if (text == "0") return std::chrono::milliseconds(0);
  if (text.empty()) return invalid("it is empty");
  int64_t total = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    int64_t number = 0;
    const size_t digits_start = pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (number > (std::numeric_limits<int64_t>::max() - 9) / 10) return invalid("too large");
      number = number * 10 + (text[pos] - '0');
      ++pos;
    }
    if (pos == digits_start) return invalid("expected a number, e.g. 30s, 5m, 1h30m");
    const Unit* unit = nullptr;
    for (const Unit& u : kUnits) {
      if (text.substr(pos, u.suffix.size()) == u.suffix) {
        unit = &u;
        break;
      }
    }
    if (unit == nullptr) return invalid("each number needs a unit: h, m, s or ms");
    pos += unit->suffix.size();
    if (number > (std::numeric_limits<int64_t>::max() - total) / unit->millis) {
      return invalid("too large");
    }
    total += number * unit->millis;
  }
  return std::chrono::milliseconds(total);
}

std::string FormatDuration(std::chrono::milliseconds duration) {
  const int64_t count = duration.count();
  if (count == 0) return "0s";
  std::string out = count < 0 ? "-" : "";
  // Unsigned magnitude: negating INT64_MIN would overflow.
  uint64_t millis = count < 0 ? 0 - static_cast<uint64_t>(count) : static_cast<uint64_t>(count);
  static constexpr std::array<std::pair<const char*, uint64_t>, 3> kParts = {
      {{"h", 3600000}, {"m", 60000}, {"s", 1000}}};
  for (const auto& [suffix, size] : kParts) {
    if (millis >= size) {
      out += std::to_string(millis / size) + suffix;
      millis %= size;
    }
  }
  if (millis > 0) out += std::to_string(millis) + "ms";
  return out;
}

}  // namespace gpuslice::core
