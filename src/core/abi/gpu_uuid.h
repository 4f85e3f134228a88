// The text form of a GPU's UUID, as NVML reports it and NVIDIA_VISIBLE_DEVICES names it
// ("GPU-0a1b2c3d-0000-4000-8000-000000000001"), from the 16 bytes cuDeviceGetUuid returns.
// Header-only, so the library and the statically linked e2e probe share it.
#pragma once

#include <string>

namespace gpuslice::core {

inline std::string FormatGpuUuid(const char (&bytes)[16]) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string text = "GPU-";
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) text += '-';
    const auto byte = static_cast<unsigned char>(bytes[i]);
    text += kHex[byte >> 4];
    text += kHex[byte & 0xf];
  }
  return text;
}

}  // namespace gpuslice::core
