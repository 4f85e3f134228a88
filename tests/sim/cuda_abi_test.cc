// Checks core/abi/cuda_types.h and core/abi/cuda.h against NVIDIA's own cuda.h:
// every enumerator's value, every record's size and alignment and each field's offset (at
// compile time), and the parameter and result types of every declared entry point. Built
// against NVIDIA's header only where it is installed (from the CUDA runtime wheel,
// cmake/cuda_headers.cmake); elsewhere the tests skip.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "sim/abi_shape.h"

namespace gpuslice::testing {
// Defined in cuda_abi_shapes.cc, which sees only gpuslice's declarations.
std::map<std::string, std::string> GpusliceEntryPointShapes();
}  // namespace gpuslice::testing

#if GPUSLICE_HAVE_CUDA_H

// The driver's own build mode: every entry point declared under its exported name, including
// the unsuffixed legacy ones, with no renaming macros left behind.
#define __CUDA_API_VERSION_INTERNAL 1
#include <cuda.h>

namespace gpuslice_abi {
#include "core/abi/cuda_types.h"
}  // namespace gpuslice_abi

#define GPUSLICE_CHECK_ENUMERATOR(e)                                                    \
  static_assert(static_cast<long long>(gpuslice_abi::e) == static_cast<long long>(::e), \
                "enumerator value differs: " #e);
#define GPUSLICE_CHECK_RECORD(t)                                              \
  static_assert(sizeof(gpuslice_abi::t) == sizeof(::t), "size differs: " #t); \
  static_assert(alignof(gpuslice_abi::t) == alignof(::t), "alignment differs: " #t);
#define GPUSLICE_CHECK_FIELD(t, f) \
  static_assert(offsetof(gpuslice_abi::t, f) == offsetof(::t, f), "offset differs: " #t "." #f);
#define GPUSLICE_CHECK_ENTRY_POINT(f)
#include "cuda_abi_checks.inc"
#undef GPUSLICE_CHECK_ENUMERATOR
#undef GPUSLICE_CHECK_RECORD
#undef GPUSLICE_CHECK_FIELD
#undef GPUSLICE_CHECK_ENTRY_POINT

namespace gpuslice::testing {
namespace {

std::map<std::string, std::string> ToolkitEntryPointShapes() {
  std::map<std::string, std::string> shapes;
#define GPUSLICE_CHECK_ENUMERATOR(e)
#define GPUSLICE_CHECK_RECORD(t)
#define GPUSLICE_CHECK_FIELD(t, f)
#define GPUSLICE_CHECK_ENTRY_POINT(f) \
  shapes[#f] = FunctionShape(static_cast<decltype(&::f)>(nullptr));
#include "cuda_abi_checks.inc"
  return shapes;
}

TEST(CudaAbi, LayoutsAndValuesMatchToolkitHeader) {
  // The static_asserts above did the work when this file compiled; this records that they ran.
  SUCCEED();
}

TEST(CudaAbi, EntryPointSignaturesMatchToolkitHeader) {
  const std::map<std::string, std::string> ours = GpusliceEntryPointShapes();
  const std::map<std::string, std::string> toolkit = ToolkitEntryPointShapes();
  ASSERT_EQ(ours.size(), toolkit.size());
  for (const auto& [name, shape] : toolkit) {
    EXPECT_EQ(ours.at(name), shape) << name;
  }
}

}  // namespace
}  // namespace gpuslice::testing

#else  // !GPUSLICE_HAVE_CUDA_H

namespace gpuslice::testing {
namespace {

TEST(CudaAbi, LayoutsAndValuesMatchToolkitHeader) {
  GTEST_SKIP() << "NVIDIA's cuda.h was not in " GPUSLICE_CUDA_INCLUDE_DIR
                  " at configure time (scripts/setup.sh --test-tools installs it), so there "
                  "is nothing to compare with";
}

TEST(CudaAbi, EntryPointSignaturesMatchToolkitHeader) {
  EXPECT_FALSE(GpusliceEntryPointShapes().empty());
  GTEST_SKIP() << "NVIDIA's cuda.h was not in " GPUSLICE_CUDA_INCLUDE_DIR
                  " at configure time (scripts/setup.sh --test-tools installs it), so there "
                  "is nothing to compare with";
}

}  // namespace
}  // namespace gpuslice::testing

#endif  // GPUSLICE_HAVE_CUDA_H
