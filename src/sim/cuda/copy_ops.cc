#include "sim/cuda/copy_ops.h"

#include <algorithm>
#include <cstring>

namespace gpuslice::sim::cuda {
namespace {

// Where one side of a copy starts, and how its rows and slices are laid out.
struct Endpoint {
  unsigned char* origin = nullptr;  // the byte at (x, y, z) = (0, 0, 0) of the copy
  size_t pitch = 0;
  size_t slice = 0;  // bytes between slices
};

bool Multiply(size_t a, size_t b, size_t* out) { return !__builtin_mul_overflow(a, b, out); }
bool Add(size_t a, size_t b, size_t* out) { return !__builtin_add_overflow(a, b, out); }

// Offset of the first byte of (x, y, z) and the span from it to the end of the last row.
bool Span(size_t x, size_t y, size_t z, size_t pitch, size_t slice, size_t width, size_t height,
          size_t depth, size_t* first, size_t* span) {
  size_t a, b, c;
  if (!Multiply(z, slice, &a) || !Multiply(y, pitch, &b) || !Add(a, b, &c) || !Add(c, x, first)) {
    return false;
  }
  size_t last_rows, last_slices;
  if (!Multiply(height - 1, pitch, &last_rows) || !Multiply(depth - 1, slice, &last_slices) ||
      !Add(last_rows, last_slices, &a) || !Add(a, width, span)) {
    return false;
  }
  return true;
}

CUresult Resolve(Driver& driver, CUmemorytype type, const void* host, CUdeviceptr device,
                 CUarray array, size_t x, size_t y, size_t z, size_t pitch, size_t height_rows,
                 const CUDA_MEMCPY3D& copy, Endpoint* endpoint) {
  if (type == CU_MEMORYTYPE_ARRAY) {
    if (!driver.arrays.Contains(array)) return CUDA_ERROR_INVALID_HANDLE;
    const CUDA_ARRAY3D_DESCRIPTOR& d = array->descriptor;
    endpoint->pitch = d.Width * array->element_bytes;
    endpoint->slice = endpoint->pitch * std::max<size_t>(d.Height, 1);
    size_t first = 0, span = 0;
    if (x + copy.WidthInBytes > endpoint->pitch ||
        !Span(x, y, z, endpoint->pitch, endpoint->slice, copy.WidthInBytes, copy.Height, copy.Depth,
              &first, &span) ||
        first + span > array->bytes) {
      return CUDA_ERROR_INVALID_VALUE;
    }
    endpoint->origin = array->data;
    return CUDA_SUCCESS;
  }
  endpoint->pitch = pitch == 0 ? copy.WidthInBytes : pitch;
  endpoint->slice = endpoint->pitch * (height_rows == 0 ? copy.Height : height_rows);
  if (copy.Height > 1 && endpoint->pitch < copy.WidthInBytes) return CUDA_ERROR_INVALID_VALUE;
  size_t first = 0, span = 0;
  if (!Span(x, y, z, endpoint->pitch, endpoint->slice, copy.WidthInBytes, copy.Height, copy.Depth,
            &first, &span)) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  uintptr_t base = 0;
  if (type == CU_MEMORYTYPE_HOST) {
    base = reinterpret_cast<uintptr_t>(host);
  } else if (type == CU_MEMORYTYPE_DEVICE || type == CU_MEMORYTYPE_UNIFIED) {
    base = device;
    const std::optional<Allocation> found = driver.memory.FindRange(base + first, span);
    if (!found) {
      // Unified addresses may be plain host memory; device addresses must be the driver's.
      if (type == CU_MEMORYTYPE_DEVICE || driver.memory.Find(base + first)) {
        return CUDA_ERROR_INVALID_VALUE;
      }
    } else if (found->kind == MemoryKind::kVmmMapping && !found->accessible) {
      return CUDA_ERROR_INVALID_VALUE;
    }
  } else {
    return CUDA_ERROR_INVALID_VALUE;
  }
  if (base == 0) return CUDA_ERROR_INVALID_VALUE;
  endpoint->origin = reinterpret_cast<unsigned char*>(base);
  return CUDA_SUCCESS;
}

}  // namespace

CUDA_MEMCPY3D LinearCopy(CUdeviceptr destination, CUdeviceptr source, size_t bytes) {
  CUDA_MEMCPY3D copy{};
  copy.srcMemoryType = CU_MEMORYTYPE_UNIFIED;
  copy.srcDevice = source;
  copy.dstMemoryType = CU_MEMORYTYPE_UNIFIED;
  copy.dstDevice = destination;
  copy.WidthInBytes = bytes;
  copy.Height = 1;
  copy.Depth = 1;
  return copy;
}

CUresult Copy3D(Driver& driver, const CUDA_MEMCPY3D& copy) {
  if (copy.WidthInBytes == 0 || copy.Height == 0 || copy.Depth == 0) return CUDA_SUCCESS;
  Endpoint source, destination;
  CUresult result =
      Resolve(driver, copy.srcMemoryType, copy.srcHost, copy.srcDevice, copy.srcArray,
              copy.srcXInBytes, copy.srcY, copy.srcZ, copy.srcPitch, copy.srcHeight, copy, &source);
  if (result != CUDA_SUCCESS) return result;
  result = Resolve(driver, copy.dstMemoryType, copy.dstHost, copy.dstDevice, copy.dstArray,
                   copy.dstXInBytes, copy.dstY, copy.dstZ, copy.dstPitch, copy.dstHeight, copy,
                   &destination);
  if (result != CUDA_SUCCESS) return result;
  for (size_t z = 0; z < copy.Depth; ++z) {
    for (size_t y = 0; y < copy.Height; ++y) {
      unsigned char* to = destination.origin + (copy.dstZ + z) * destination.slice +
                          (copy.dstY + y) * destination.pitch + copy.dstXInBytes;
      const unsigned char* from = source.origin + (copy.srcZ + z) * source.slice +
                                  (copy.srcY + y) * source.pitch + copy.srcXInBytes;
      std::memmove(to, from, copy.WidthInBytes);
    }
  }
  return CUDA_SUCCESS;
}

CUresult Memset2D(Driver& driver, CUdeviceptr destination, size_t pitch, unsigned int value,
                  unsigned int element_bytes, size_t width, size_t height) {
  if (width == 0 || height == 0) return CUDA_SUCCESS;
  if (destination % element_bytes != 0) return CUDA_ERROR_INVALID_VALUE;
  size_t row_bytes = 0, rows = 0, span = 0;
  if (!Multiply(width, element_bytes, &row_bytes) || (height > 1 && pitch < row_bytes) ||
      !Multiply(height - 1, pitch, &rows) || !Add(rows, row_bytes, &span)) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  const std::optional<Allocation> found = driver.memory.FindRange(destination, span);
  if (!found || (found->kind == MemoryKind::kVmmMapping && !found->accessible)) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  for (size_t row = 0; row < height; ++row) {
    unsigned char* start = reinterpret_cast<unsigned char*>(destination) + row * pitch;
    switch (element_bytes) {
      case 1:
        std::memset(start, static_cast<int>(value & 0xff), width);
        break;
      case 2:
        std::fill_n(reinterpret_cast<uint16_t*>(start), width, static_cast<uint16_t>(value));
        break;
      default:
        std::fill_n(reinterpret_cast<uint32_t*>(start), width, value);
        break;
    }
  }
  return CUDA_SUCCESS;
}

}  // namespace gpuslice::sim::cuda
