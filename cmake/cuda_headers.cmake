# NVIDIA's own cuda.h, for the programs that must compile the way CUDA applications do: the
# tests that build driver-API clients against it and compare gpuslice's ABI declarations with
# it, and the GPU proof kit. The product never needs it (src/core/abi declares what it uses).
#
# scripts/setup.sh --test-tools unpacks it from NVIDIA's CUDA runtime wheel on PyPI into the
# gpuslice cache (scripts/cuda-headers.sh), which is where this looks by default; point
# GPUSLICE_CUDA_INCLUDE_DIR at a CUDA toolkit's include/ to use that instead.
#
# Sets GPUSLICE_HAVE_CUDA_H (ON when ${GPUSLICE_CUDA_INCLUDE_DIR}/cuda.h exists) and
# GPUSLICE_PTXAS (NVIDIA's PTX assembler from the same cache, or NOTFOUND).

if(DEFINED ENV{GPUSLICE_CACHE_DIR})
  set(gpuslice_cache_dir "$ENV{GPUSLICE_CACHE_DIR}")
elseif(DEFINED ENV{XDG_CACHE_HOME})
  set(gpuslice_cache_dir "$ENV{XDG_CACHE_HOME}/gpuslice")
else()
  set(gpuslice_cache_dir "$ENV{HOME}/.cache/gpuslice")
endif()

set(GPUSLICE_CUDA_INCLUDE_DIR "${gpuslice_cache_dir}/cuda/include" CACHE PATH
  "Directory holding NVIDIA's cuda.h (scripts/setup.sh --test-tools puts it in the gpuslice cache)")
if(EXISTS "${GPUSLICE_CUDA_INCLUDE_DIR}/cuda.h")
  set(GPUSLICE_HAVE_CUDA_H ON)
  message(STATUS "NVIDIA's cuda.h: ${GPUSLICE_CUDA_INCLUDE_DIR}")
else()
  set(GPUSLICE_HAVE_CUDA_H OFF)
  message(STATUS "NVIDIA's cuda.h: not in ${GPUSLICE_CUDA_INCLUDE_DIR}; the tests that compile "
    "against it will skip (scripts/setup.sh --test-tools installs it)")
endif()

find_program(GPUSLICE_PTXAS ptxas HINTS "${gpuslice_cache_dir}/cuda/bin"
  DOC "NVIDIA's PTX assembler, used by the test that assembles the GPU proof kit's kernels")
