// Reads what a module image declares. PTX is text, so its kernels (.entry) and global
// variables (.global / .const, with their sizes) can be listed; binary images (cubin ELF,
// fatbin) are treated as opaque, and any name resolves in them.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "sim/cuda/objects.h"

namespace gpuslice::sim::cuda {

// The size a global of an opaque image gets: its real size is not known.
inline constexpr size_t kOpaqueGlobalBytes = 256;

// `image` points at a NUL-terminated PTX text or a binary image of unknown length; at most
// `limit` bytes are read.
std::shared_ptr<const ModuleImage> ReadModuleImage(const void* image, size_t limit);

// Reads a whole file; false when it cannot be read.
bool ReadFile(const std::string& path, std::string* content);

}  // namespace gpuslice::sim::cuda
