// Kubernetes resource quantities ("500m", "1Gi", "1e3", "0.5"), parsed exactly as the
// Kubernetes API machinery parses them, and byte sizes written back in the same notation.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace gpuslice::core {

// An exact decimal/binary quantity. Value() and MilliValue() round away from zero like
// Kubernetes' Quantity.Value() and Quantity.MilliValue(), which is how the scheduler counts
// CPU (milli) and memory or extended resources (units). Immutable; thread-safe.
class Quantity {
 public:
  // Accepts Kubernetes' grammar: an optional sign, digits with an optional fraction
  // (".5" and "5." included), then a suffix: binary Ki Mi Gi Ti Pi Ei, decimal n u m k M G T
  // P E, or a decimal exponent e<int>/E<int>. No whitespace.
  // Returns InvalidArgument naming the text and what is wrong with it.
  static Result<Quantity> Parse(std::string_view text);

  // Returns the value rounded away from zero to a whole unit, or InvalidArgument when it does
  // not fit in int64.
  Result<int64_t> Value() const { return Scaled(0); }

  // Returns the value in thousandths rounded away from zero, or InvalidArgument when it does
  // not fit in int64.
  Result<int64_t> MilliValue() const { return Scaled(3); }

  bool negative() const { return negative_; }
  bool is_zero() const { return mantissa_ == 0 && !inexact_; }

  // The text the quantity was parsed from.
  const std::string& text() const { return text_; }

 private:
  Quantity() = default;
  Result<int64_t> Scaled(int decimal_scale) const;

  std::string text_;
  bool negative_ = false;
  unsigned __int128 mantissa_ = 0;  // significant digits, at most kMaxDigits of them
  bool inexact_ = false;            // non-zero digits beyond kMaxDigits were dropped
  int decimal_exponent_ = 0;        // value = mantissa * 10^decimal_exponent * 2^binary_exponent
  int binary_exponent_ = 0;
};

// Formats a byte count the way people write memory in manifests: the largest binary suffix
// that divides it exactly ("10Gi", "1536Mi"), or plain bytes.
std::string FormatBytes(uint64_t bytes);

// Formats a byte count for humans, rounded to one decimal ("79.6 GiB", "512.0 MiB").
std::string HumanBytes(uint64_t bytes);

}  // namespace gpuslice::core
