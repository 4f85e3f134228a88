#!/usr/bin/env bash
# Puts NVIDIA's CUDA headers (cuda.h, the runtime's headers) and its PTX assembler (ptxas) in
# the gpuslice cache, from NVIDIA's wheels on PyPI, for the tests that compile programs the way
# CUDA applications are compiled and assemble the GPU proof kit's kernels. The product itself
# never needs them. scripts/setup.sh --test-tools runs this; a second run finds them in place.
#
# The cache: $GPUSLICE_CACHE_DIR, else $XDG_CACHE_HOME/gpuslice, else ~/.cache/gpuslice (the
# default of cmake/cuda_headers.cmake). It ends up holding cuda/include (cuda.h) and cuda/bin
# (ptxas), links into wheels/<package>-<version>/.
set -euo pipefail

# The release gpuslice's recorded driver facts come from (src/sim/data); another 13.x can be
# tried with GPUSLICE_CUDA_WHEEL_VERSION.
version=${GPUSLICE_CUDA_WHEEL_VERSION:-13.0.88}
cache=${GPUSLICE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/gpuslice}
python=${PYTHON:-python3}

case "${1:-}" in
  -h|--help)
    echo "usage: scripts/cuda-headers.sh   (installs NVIDIA's CUDA $version headers and ptxas into $cache/cuda)"
    exit 0 ;;
  "") ;;
  *) echo "cuda-headers.sh: unknown argument '$1'" >&2; exit 2 ;;
esac

prefix="$cache/wheels/nvidia-cuda-$version"
if [ -e "$prefix/nvidia/cu13/include/cuda.h" ] && [ -e "$prefix/nvidia/cu13/include/crt/host_config.h" ] &&
   [ -x "$prefix/nvidia/cu13/bin/ptxas" ] && [ "$(readlink "$cache/cuda/include" 2>/dev/null)" = "$prefix/nvidia/cu13/include" ]; then
  echo "cuda-headers.sh: NVIDIA's CUDA $version headers and ptxas are in $cache/cuda"
  exit 0
fi

if ! "$python" -m pip --version >/dev/null 2>&1; then
  echo "cuda-headers.sh: $python has no pip, so NVIDIA's wheels cannot be fetched; the tests" \
       "that compile against NVIDIA's cuda.h will skip (install python3-pip and run again)" >&2
  exit 1
fi

download=$(mktemp -d)
trap 'rm -rf "$download"' EXIT
# The runtime wheel holds cuda.h and the runtime's headers, the crt wheel the headers those
# include, the nvcc wheel ptxas. Wheels are zip files: Python's zipfile unpacks them.
packages=("nvidia-cuda-runtime==$version" "nvidia-cuda-crt==$version" "nvidia-cuda-nvcc==$version")
if ! "$python" -m pip download --quiet --no-deps --only-binary=:all: --dest "$download" "${packages[@]}"; then
  echo "cuda-headers.sh: pip could not download ${packages[*]}; the tests that compile" \
       "against NVIDIA's cuda.h will skip" >&2
  exit 1
fi
rm -rf "$prefix.tmp"
mkdir -p "$prefix.tmp"
for wheel in "$download"/*.whl; do
  "$python" -m zipfile -e "$wheel" "$prefix.tmp"
done
chmod 0755 "$prefix.tmp"/nvidia/cu13/bin/*
rm -rf "$prefix"
mv "$prefix.tmp" "$prefix"
mkdir -p "$cache/cuda"
ln -sfn "$prefix/nvidia/cu13/include" "$cache/cuda/include"
ln -sfn "$prefix/nvidia/cu13/bin" "$cache/cuda/bin"
echo "cuda-headers.sh: NVIDIA's CUDA $version headers in $cache/cuda/include, ptxas in $cache/cuda/bin"
