#!/usr/bin/env bash
# The GPU proof kit: builds libgpuslice.so with nothing but CMake and a C++ compiler, then runs
# real CUDA programs (the driver API, the CUDA runtime, PyTorch, CuPy, JAX, nvidia-smi) with the
# library preloaded the way the device plugin sets a container up, and reports whether each is
# held to its slice and what the library costs. Nothing is fetched from the network.
# docs/gpu-proof.md explains every check.
set -uo pipefail

usage() {
  cat <<'USAGE'
usage: scripts/gpu-proof.sh [options]
  Checks libgpuslice.so against real CUDA programs on this node's NVIDIA GPU and prints a
  table (check, result, figure); --output writes the same as JSON.

  --output FILE       also write the results as JSON to FILE
  --gpu N             the GPU to use, by CUDA ordinal (default 0); it should be idle
  --slice-mib N       the memory slice in MiB (default: a quarter of the GPU's memory)
  --only LIST         run only these groups, comma-separated: driver, processes, runtime,
                      torch, cupy, jax, nvidia-smi, compute, cost (default: all)
  --build-dir DIR     where the lean build goes (default: build/gpu-proof in the repository)
  --library FILE      use this libgpuslice.so instead of building one (gpu_proof_driver is
                      then taken from the same build's bin/)
  --simulated BUILD   run over the simulated driver of a full build (BUILD/lib/sim holds its
                      libcuda.so.1): the driver-API checks run, the frameworks' are skipped
  --build-only        build the lean library and the kit's programs, then stop
  --python PYTHON     the Python with the frameworks (default: python3)
  -h, --help          this text

Exit status: 0 every check that ran passed; 1 a check failed; 2 bad arguments;
3 a prerequisite is missing (no NVIDIA driver or GPU, no CMake or C++ compiler).
USAGE
}

die_usage() { echo "gpu-proof: $1" >&2; echo "run scripts/gpu-proof.sh --help for usage" >&2; exit 2; }
die_prereq() { echo "gpu-proof: $1" >&2; exit 3; }
progress() { echo "gpu-proof: $*" >&2; }

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
kit="$repo/tests/gpu-proof"
output="" gpu=0 slice_mib="" only="" build_dir="$repo/build/gpu-proof" library="" sim_build=""
build_only=0 python=python3

while [ $# -gt 0 ]; do
  case "$1" in
    --output) [ $# -ge 2 ] || die_usage "--output needs a file"; output=$2; shift 2 ;;
    --gpu) [ $# -ge 2 ] || die_usage "--gpu needs an ordinal"; gpu=$2; shift 2 ;;
    --slice-mib) [ $# -ge 2 ] || die_usage "--slice-mib needs a number"; slice_mib=$2; shift 2 ;;
    --only) [ $# -ge 2 ] || die_usage "--only needs a list"; only=$2; shift 2 ;;
    --build-dir) [ $# -ge 2 ] || die_usage "--build-dir needs a directory"; build_dir=$2; shift 2 ;;
    --library) [ $# -ge 2 ] || die_usage "--library needs a file"; library=$2; shift 2 ;;
    --simulated) [ $# -ge 2 ] || die_usage "--simulated needs a build directory"; sim_build=$2; shift 2 ;;
    --python) [ $# -ge 2 ] || die_usage "--python needs a program"; python=$2; shift 2 ;;
    --build-only) build_only=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die_usage "unknown argument '$1'" ;;
  esac
done

[[ "$gpu" =~ ^[0-9]+$ ]] || die_usage "--gpu '$gpu' is not a CUDA ordinal"
[ -z "$slice_mib" ] || [[ "$slice_mib" =~ ^[1-9][0-9]*$ ]] || die_usage "--slice-mib '$slice_mib' is not a positive number"
all_groups="driver processes runtime torch cupy jax nvidia-smi compute cost"
groups=$all_groups
if [ -n "$only" ]; then
  groups=${only//,/ }
  for g in $groups; do
    [[ " $all_groups " == *" $g "* ]] || die_usage "--only: unknown group '$g' (groups: ${all_groups// /, })"
  done
fi
wants() { [[ " $groups " == *" $1 "* ]]; }
if [ -n "$library" ] && [ ! -f "$library" ]; then die_usage "--library '$library' does not exist"; fi
if [ -n "$sim_build" ] && [ ! -e "$sim_build/lib/sim/libcuda.so.1" ]; then
  die_usage "--simulated '$sim_build' holds no simulated driver (lib/sim/libcuda.so.1); build gpuslice-sim-cuda there first"
fi

# ---- prerequisites: all of them are named at once ----
missing=()
[ "$(uname -s)" = Linux ] || missing+=("Linux (this is $(uname -s))")
have_driver() {
  local ldconfig
  ldconfig=$(command -v ldconfig || echo /sbin/ldconfig)
  if [ -x "$ldconfig" ] && "$ldconfig" -p 2>/dev/null | grep -q 'libcuda\.so\.1 '; then return 0; fi
  local dir
  IFS=: read -r -a dirs <<<"${LD_LIBRARY_PATH:-}"
  for dir in "${dirs[@]}"; do [ -n "$dir" ] && [ -e "$dir/libcuda.so.1" ] && return 0; done
  return 1
}
if [ -z "$sim_build" ] && [ "$build_only" -eq 0 ] && ! have_driver; then
  missing+=("an NVIDIA driver: libcuda.so.1 is not in the loader's search path (ldconfig -p, LD_LIBRARY_PATH); run this on a GPU node, or use --simulated BUILD to run over the simulated driver")
fi
if [ -z "$library" ]; then
  command -v cmake >/dev/null 2>&1 || missing+=("cmake (3.22 or later)")
  cxx=${CXX:-}
  [ -n "$cxx" ] || cxx=$(command -v c++ || command -v g++ || command -v clang++ || true)
  [ -n "$cxx" ] || missing+=("a C++20 compiler (c++, g++ or clang++)")
fi
command -v timeout >/dev/null 2>&1 || missing+=("timeout (coreutils)")
if [ "${#missing[@]}" -gt 0 ]; then
  for m in "${missing[@]}"; do echo "gpu-proof: missing: $m" >&2; done
  exit 3
fi

started=$(date +%s)
work=$(mktemp -d "${TMPDIR:-/tmp}/gpu-proof.XXXXXX")
trap 'rm -rf "$work"' EXIT

# ---- results ----
names=() results=() figures=() details=()
record() {  # name result figure detail
  names+=("$1"); results+=("$2"); figures+=("$3"); details+=("$4")
  printf '  %-34s %-8s %s\n' "$1" "$2" "${3:-$4}" >&2
}
# Records the RESULT lines of a check program's output ($1); when it printed none for a group
# ($2), the program failed: its exit status ($3) and the tail of its stderr ($4) say why.
collect() {
  local out=$1 group=$2 status=$3 errors=$4 line fields count=0
  while IFS= read -r line; do
    [[ "$line" == RESULT$'\t'* ]] || continue
    # Split on each tab: read would merge the two around an empty figure.
    IFS=$'\x1f' read -r -a fields <<<"${line//$'\t'/$'\x1f'}"
    record "${fields[1]:-}" "${fields[2]:-}" "${fields[3]:-}" "${fields[4]:-}"
    count=$((count + 1))
  done <"$out"
  if [ "$status" -ne 0 ] || [ "$count" -eq 0 ]; then
    local why="exited with status $status"
    [ "$status" -eq 124 ] && why="hung: killed after its time limit"
    record "$group.run" fail "" "$why: $(tail -n 3 "$errors" 2>/dev/null | tr '\n\t' '  ')"
  fi
}
skip_group() {  # group reason check...
  local group=$1 reason=$2; shift 2
  for check in "$@"; do record "$group.$check" skip "" "$reason"; done
}

# ---- build ----
if [ -n "$library" ]; then
  driver_prog="$(cd "$(dirname "$library")/.." && pwd)/bin/gpu_proof_driver"
  [ -x "$driver_prog" ] || die_usage "--library: no gpu_proof_driver next to it ($driver_prog)"
else
  nvcc_bin=$(command -v nvcc || true)
  [ -n "$nvcc_bin" ] || [ ! -x /usr/local/cuda/bin/nvcc ] || nvcc_bin=/usr/local/cuda/bin/nvcc
  cuda_include=()
  if [ -n "$nvcc_bin" ] && [ -e "$(dirname "$nvcc_bin")/../include/cuda.h" ]; then
    cuda_include=("-DGPUSLICE_CUDA_INCLUDE_DIR=$(cd "$(dirname "$nvcc_bin")/../include" && pwd)")
  fi
  progress "building libgpuslice.so (lean: CMake and $cxx only) in $build_dir"
  build_start=$(date +%s)
  mkdir -p "$build_dir"
  if ! cmake -S "$repo" -B "$build_dir" -DGPUSLICE_LEAN=ON -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_CXX_COMPILER="$cxx" "${cuda_include[@]}" >"$build_dir/configure.log" 2>&1; then
    tail -n 20 "$build_dir/configure.log" >&2
    die_prereq "the lean CMake configure failed (log: $build_dir/configure.log)"
  fi
  if ! cmake --build "$build_dir" -j "$(nproc 2>/dev/null || echo 2)" \
      --target gpuslice_preload gpu_proof_driver >"$build_dir/build.log" 2>&1; then
    tail -n 20 "$build_dir/build.log" >&2
    die_prereq "the lean build failed (log: $build_dir/build.log)"
  fi
  library="$build_dir/lib/libgpuslice.so"
  driver_prog="$build_dir/bin/gpu_proof_driver"
  record build.lean pass "$(( $(date +%s) - build_start )) s" \
    "libgpuslice.so and gpu_proof_driver built with CMake $(cmake --version | awk 'NR==1 {print $3}') and $(basename "$cxx") alone"
fi
if [ "$build_only" -eq 1 ]; then
  progress "built $library and $driver_prog"
  exit 0
fi

# ---- the driver and the GPU ----
base_env=()
if [ -n "$sim_build" ]; then
  sim_dir=$(cd "$sim_build/lib/sim" && pwd)
  base_env=(LD_LIBRARY_PATH="$sim_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
            GPUSLICE_SIM_STATE="$work/sim-state" GPUSLICE_SIM_SPEC="1xH100-80GB"
            ASAN_OPTIONS=detect_leaks=0)
fi
# A sanitized build's libraries need the ASan runtime first in LD_PRELOAD, as they would in any
# process that preloads them.
asan_runtime=$(ldd "$library" "$driver_prog" ${sim_dir:+"$sim_dir/libcuda.so.1"} 2>/dev/null |
               awk '/libasan\.so/ {print $3; exit}')
preload=${asan_runtime:+$asan_runtime:}$library
if [ -n "$asan_runtime" ]; then
  base_env+=(ASAN_OPTIONS=detect_leaks=0)
fi

probe_out="$work/probe.out"
if ! env "${base_env[@]}" CUDA_VISIBLE_DEVICES="$gpu" LD_PRELOAD="${asan_runtime}" \
    timeout 60 "$driver_prog" probe >"$probe_out" 2>"$work/probe.err"; then
  cat "$work/probe.err" >&2
  die_prereq "the CUDA driver cannot use GPU $gpu (above: what it said)"
fi
info() { awk -F'\t' -v key="$1" '$1 == "INFO" && $2 == key {print $3}' "$probe_out"; }
gpu_name=$(info gpu) uuid=$(info uuid) gpu_bytes=$(info memory_bytes)
cuda_driver=$(info cuda_driver_version)
driver_version=""
if [ -z "$sim_build" ] && command -v nvidia-smi >/dev/null 2>&1; then
  driver_version=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader -i "$uuid" 2>/dev/null | head -n 1)
fi
if [ -z "$slice_mib" ]; then
  slice_mib=$(( gpu_bytes / 4 / 1048576 / 2 * 2 ))
fi
slice_bytes=$(( slice_mib * 1048576 ))
[ "$slice_bytes" -lt "$gpu_bytes" ] || die_usage "--slice-mib $slice_mib is not below the GPU's $(( gpu_bytes / 1048576 )) MiB"
mode=hardware
[ -z "$sim_build" ] || mode=simulated
progress "$mode: $gpu_name ($uuid), $(( gpu_bytes / 1048576 )) MiB; slice $slice_mib MiB"

# One container as the device plugin sets it up: the Allocate contract's environment
# (src/core/contract.h) with a fresh, empty region file in a directory of its own, and the
# library preloaded. CUDA_VISIBLE_DEVICES stands in for the container runtime, which would show
# the container only its GPU.
regions=0
container_env() {  # memory_bytes compute_percent -> the env words, in the array `container`
  regions=$((regions + 1))
  local dir="$work/allocation-$regions"
  mkdir -p "$dir" && : >"$dir/region" && chmod 0666 "$dir/region"
  container=("${base_env[@]}" NVIDIA_VISIBLE_DEVICES="$uuid" CUDA_VISIBLE_DEVICES="$uuid"
             GPUSLICE_MEMORY_LIMIT_0="$1" GPUSLICE_COMPUTE_LIMIT_0="$2"
             GPUSLICE_REGION="$dir/region" LD_PRELOAD="$preload")
}
# The same GPU without the library, for the figures taken with and without it.
bare=("${base_env[@]}" CUDA_VISIBLE_DEVICES="$uuid" LD_PRELOAD="$asan_runtime")

run_check() {  # group seconds program args... : runs it in a fresh container, collects results
  local group=$1 seconds=$2; shift 2
  container_env "$slice_bytes" 100
  env "${container[@]}" timeout "$seconds" "$@" >"$work/$group.out" 2>"$work/$group.err"
  collect "$work/$group.out" "$group" $? "$work/$group.err"
}

# ---- driver API ----
if wants driver; then
  progress "driver API: memory info, every allocation path, kernels"
  sim_flag=()
  [ -z "$sim_build" ] || sim_flag=(--simulated)
  run_check driver 300 "$driver_prog" memory --slice "$slice_bytes" "${sim_flag[@]}"
fi
if wants processes; then
  progress "two processes of one container"
  run_check processes 120 "$driver_prog" processes --slice "$slice_bytes"
fi

# ---- CUDA runtime (needs nvcc) ----
runtime_checks=(mem_info alloc.malloc alloc.pitch alloc.managed alloc.async alloc.array3d kernel graph)
if wants runtime; then
  if [ -n "$sim_build" ]; then
    skip_group runtime "needs a real GPU: the simulated driver does not execute kernel code" "${runtime_checks[@]}"
  elif [ -z "${nvcc_bin:-$(command -v nvcc || true)}" ]; then
    skip_group runtime "nvcc (the CUDA toolkit) is not installed" "${runtime_checks[@]}"
  else
    nvcc_bin=${nvcc_bin:-$(command -v nvcc)}
    progress "CUDA runtime: building with $nvcc_bin"
    if "$nvcc_bin" -O2 -arch=native -o "$work/runtime_check" "$kit/runtime_check.cu" >"$work/nvcc.log" 2>&1 ||
       "$nvcc_bin" -O2 -o "$work/runtime_check" "$kit/runtime_check.cu" >>"$work/nvcc.log" 2>&1; then
      run_check runtime 300 "$work/runtime_check" --slice "$slice_bytes"
    else
      record runtime.build fail "" "nvcc failed: $(tail -n 3 "$work/nvcc.log" | tr '\n\t' '  ')"
    fi
  fi
fi

# ---- Python frameworks ----
# Prints the framework's version, or exits non-zero with the reason it cannot be used.
framework_version() {  # script
  command -v "$python" >/dev/null 2>&1 || { echo "$python is not installed"; return 1; }
  env "${bare[@]}" timeout 120 "$python" "$kit/$1" detect 2>&1 | tail -n 1
  return "${PIPESTATUS[0]}"
}
torch_checks=(mem_info oom.default oom.async oom.expandable graph numbers.gemm numbers.train)
cupy_checks=(mem_info pool_oom kernel)
jax_checks=(preallocation jit)
versions=()
framework_group() {  # group script checks...: "" when it may run, else records the skips
  local group=$1 script=$2; shift 2
  local version
  if ! version=$(framework_version "$script"); then
    skip_group "$group" "$version" "$@"
    return 1
  fi
  versions+=("$group $version")
  if [ -n "$sim_build" ]; then
    skip_group "$group" "needs a real GPU: the simulated driver does not execute kernel code" "$@"
    return 1
  fi
  return 0
}

if wants torch && framework_group torch torch_check.py "${torch_checks[@]}"; then
  progress "PyTorch: memory info, OOM with three allocators, graphs, numbers"
  run_check torch 180 "$python" "$kit/torch_check.py" basics --slice "$slice_bytes"
  for conf in default async expandable; do
    case $conf in
      default) alloc_conf="" ;;
      async) alloc_conf="backend:cudaMallocAsync" ;;
      expandable) alloc_conf="expandable_segments:True" ;;
    esac
    container_env "$slice_bytes" 100
    env "${container[@]}" PYTORCH_CUDA_ALLOC_CONF="$alloc_conf" timeout 180 \
      "$python" "$kit/torch_check.py" oom --slice "$slice_bytes" --name "$conf" \
      >"$work/torch-$conf.out" 2>"$work/torch-$conf.err"
    collect "$work/torch-$conf.out" "torch.oom.$conf" $? "$work/torch-$conf.err"
  done
  # The same computation with and without the library, compared bit for bit.
  container_env "$slice_bytes" 100
  env "${container[@]}" CUBLAS_WORKSPACE_CONFIG=:4096:8 timeout 180 \
    "$python" "$kit/torch_check.py" numbers --out "$work/with.pt" >/dev/null 2>"$work/numbers-with.err"
  with_status=$?
  env "${bare[@]}" CUBLAS_WORKSPACE_CONFIG=:4096:8 timeout 180 \
    "$python" "$kit/torch_check.py" numbers --out "$work/without.pt" >/dev/null 2>"$work/numbers-without.err"
  without_status=$?
  if [ "$with_status" -eq 0 ] && [ "$without_status" -eq 0 ]; then
    env "${bare[@]}" timeout 120 "$python" "$kit/torch_check.py" compare \
      --with "$work/with.pt" --without "$work/without.pt" >"$work/compare.out" 2>"$work/compare.err"
    collect "$work/compare.out" torch.numbers $? "$work/compare.err"
  else
    record torch.numbers fail "" "a run failed (with the library: status $with_status, without: $without_status): $(tail -n 2 "$work/numbers-with.err" "$work/numbers-without.err" | tr '\n\t' '  ')"
  fi
fi

if wants cupy && framework_group cupy cupy_check.py "${cupy_checks[@]}"; then
  progress "CuPy: memory info, the memory pool at the slice, a kernel"
  run_check cupy 180 "$python" "$kit/cupy_check.py" run --slice "$slice_bytes"
fi

if wants jax && framework_group jax jax_check.py "${jax_checks[@]}"; then
  progress "JAX: preallocation from the slice, a jitted computation"
  run_check jax 180 "$python" "$kit/jax_check.py" run --slice "$slice_bytes"
fi

# ---- nvidia-smi ----
if wants nvidia-smi; then
  if [ -n "$sim_build" ]; then
    record nvidia_smi.memory skip "" "needs a real GPU: there is no simulated nvidia-smi"
  elif ! command -v nvidia-smi >/dev/null 2>&1; then
    record nvidia_smi.memory skip "" "nvidia-smi is not installed"
  else
    container_env "$slice_bytes" 100
    line=$(env "${container[@]}" timeout 60 nvidia-smi -i "$uuid" \
      --query-gpu=memory.total,memory.used --format=csv,noheader,nounits 2>"$work/smi.err" | head -n 1)
    total=$(echo "$line" | awk -F', *' '{print $1}')
    if [ "$total" = "$slice_mib" ]; then
      record nvidia_smi.memory pass "total $total MiB" "nvidia-smi under the library reports the slice"
    else
      record nvidia_smi.memory fail "total ${total:-?} MiB" "expected the slice, $slice_mib MiB: '${line}' $(tr '\n' ' ' <"$work/smi.err")"
    fi
  fi
fi

# ---- compute shares ----
burn() {  # env_array seconds start_at_ms out: one container burning the work kernel
  local -n envs=$1
  env "${envs[@]}" timeout $(( $2 + 120 )) "$driver_prog" burn --iterations "$iterations" \
    --seconds "$2" --start-at-ms "$3" >"$4" 2>"$4.err"
}
rate() { awk '$1 == "BURN" && $3 > 0 {printf "%.3f", $2 / $3}' "$1"; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
if wants compute; then
  progress "compute: a lone 50% slice, and 30% beside 70%"
  container_env "$slice_bytes" 100
  iterations=$(env "${container[@]}" timeout 120 "$driver_prog" calibrate --target-ms 2 2>"$work/calibrate.err" |
               awk '$1 == "ITERATIONS" {print $2}')
  if [ -z "$iterations" ]; then
    record compute.run fail "" "calibrating the work kernel failed: $(tail -n 2 "$work/calibrate.err" | tr '\n' ' ')"
  else
    container_env "$slice_bytes" 100
    burn container 8 0 "$work/burn-100.out"
    container_env "$slice_bytes" 50
    burn container 8 0 "$work/burn-50.out"
    full=$(rate "$work/burn-100.out") half=$(rate "$work/burn-50.out")
    if [ -n "$full" ] && [ -n "$half" ]; then
      percent=$(awk -v h="$half" -v f="$full" 'BEGIN {printf "%.1f", 100 * h / f}')
      verdict=$(awk -v p="$percent" 'BEGIN {print (p >= 45 && p <= 55) ? "pass" : "fail"}')
      record compute.alone_50 "$verdict" "$percent% of unthrottled" \
        "one container at 50%: $half kernels/s against $full alone at 100% (45-55% passes)"
    else
      record compute.alone_50 fail "" "a burn failed: $(cat "$work/burn-100.out.err" "$work/burn-50.out.err" | tail -n 2 | tr '\n' ' ')"
    fi
    # Two containers (two regions), both starting together once their CUDA setup is done.
    container_env "$slice_bytes" 30
    env_30=("${container[@]}")
    container_env "$slice_bytes" 70
    env_70=("${container[@]}")
    start_at=$(( $(now_ms) + 5000 ))
    burn env_30 12 "$start_at" "$work/burn-30.out" &
    first=$!
    burn env_70 12 "$start_at" "$work/burn-70.out"
    wait "$first"
    low=$(rate "$work/burn-30.out") high=$(rate "$work/burn-70.out")
    if [ -n "$low" ] && [ -n "$high" ]; then
      share=$(awk -v l="$low" -v h="$high" 'BEGIN {printf "%.1f", 100 * l / (l + h)}')
      verdict=$(awk -v s="$share" 'BEGIN {print (s >= 25 && s <= 35) ? "pass" : "fail"}')
      record compute.share_30_70 "$verdict" "$share% : $(awk -v s="$share" 'BEGIN {printf "%.1f", 100 - s}')%" \
        "two containers at 30% and 70% running the same kernel loop together: $low and $high kernels/s (30 +- 5 passes)"
    else
      record compute.share_30_70 fail "" "a burn failed: $(cat "$work/burn-30.out.err" "$work/burn-70.out.err" | tail -n 2 | tr '\n' ' ')"
    fi
  fi
fi

# ---- cost ----
median3() { printf '%s\n' "$@" | sort -g | awk 'NR == 2'; }
if wants cost && [ -n "$sim_build" ]; then
  for check in launch train; do
    record "cost.$check" skip "" "needs a real GPU: over the simulated driver a launch costs what its kernel-timeline model says (the library's own cost there is bench/preload_overhead's)"
  done
elif wants cost; then
  progress "cost: launch-bound loop and a training loop, with and without the library"
  bare_ns=() lib_ns=()
  for round in 1 2 3; do
    bare_ns+=("$(env "${bare[@]}" timeout 120 "$driver_prog" launch-cost --count 100000 2>>"$work/cost.err" | awk '$1 == "LAUNCH" {print $2}')")
    container_env "$slice_bytes" 100
    lib_ns+=("$(env "${container[@]}" timeout 120 "$driver_prog" launch-cost --count 100000 2>>"$work/cost.err" | awk '$1 == "LAUNCH" {print $2}')")
  done
  if [ "${#bare_ns[*]}" -eq 3 ] && [ -n "${bare_ns[2]}" ] && [ -n "${lib_ns[2]}" ] &&
     [ -n "${bare_ns[0]}" ] && [ -n "${lib_ns[0]}" ] && [ -n "${bare_ns[1]}" ] && [ -n "${lib_ns[1]}" ]; then
    b=$(median3 "${bare_ns[@]}") l=$(median3 "${lib_ns[@]}")
    record cost.launch measured "+$(awk -v b="$b" -v l="$l" 'BEGIN {printf "%.0f", l - b}') ns per launch" \
      "100000 empty-kernel launches, median of 3 alternating rounds: $b ns without, $l ns with the library (ratio $(awk -v b="$b" -v l="$l" 'BEGIN {printf "%.3f", l / b}'))"
  else
    record cost.launch fail "" "a launch-cost run failed: $(tail -n 2 "$work/cost.err" | tr '\n' ' ')"
  fi
  if [[ " ${versions[*]:-} " == *" torch "* ]]; then
    bare_steps=() lib_steps=()
    for round in 1 2 3; do
      bare_steps+=("$(env "${bare[@]}" timeout 120 "$python" "$kit/torch_check.py" train-speed --seconds 4 2>>"$work/cost.err" | awk '$1 == "STEPS" {print $2}')")
      container_env "$slice_bytes" 100
      lib_steps+=("$(env "${container[@]}" timeout 120 "$python" "$kit/torch_check.py" train-speed --seconds 4 2>>"$work/cost.err" | awk '$1 == "STEPS" {print $2}')")
    done
    if [ -n "${bare_steps[0]}" ] && [ -n "${bare_steps[1]}" ] && [ -n "${bare_steps[2]}" ] &&
       [ -n "${lib_steps[0]}" ] && [ -n "${lib_steps[1]}" ] && [ -n "${lib_steps[2]}" ]; then
      b=$(median3 "${bare_steps[@]}") l=$(median3 "${lib_steps[@]}")
      record cost.train measured "ratio $(awk -v b="$b" -v l="$l" 'BEGIN {printf "%.3f", l / b}')" \
        "small PyTorch training loop, median of 3 alternating rounds: $b steps/s without, $l with the library"
    else
      record cost.train fail "" "a training-loop run failed: $(tail -n 2 "$work/cost.err" | tr '\n' ' ')"
    fi
  else
    record cost.train skip "" "PyTorch is not available (see the torch checks)"
  fi
fi

# ---- report ----
seconds=$(( $(date +%s) - started ))
passed=0 failed=0 skipped=0 measured=0
for r in "${results[@]}"; do
  case $r in
    pass) passed=$((passed + 1)) ;;
    skip) skipped=$((skipped + 1)) ;;
    measured) measured=$((measured + 1)) ;;
    *) failed=$((failed + 1)) ;;  # a program that printed nonsense failed too
  esac
done
echo
echo "gpuslice GPU proof ($mode): $gpu_name, $uuid, slice $slice_mib MiB of $(( gpu_bytes / 1048576 )) MiB"
printf '%-34s %-8s %s\n' CHECK RESULT FIGURE
for i in "${!names[@]}"; do
  # A skip has no figure: its reason stands there. A failure's reason follows on its own line.
  if [ -z "${figures[$i]}" ]; then
    printf '%-34s %-8s %s\n' "${names[$i]}" "${results[$i]}" "${details[$i]}"
  else
    printf '%-34s %-8s %s\n' "${names[$i]}" "${results[$i]}" "${figures[$i]}"
    if [ "${results[$i]}" = fail ]; then printf '%-34s %-8s   %s\n' "" "" "${details[$i]}"; fi
  fi
done
echo "$passed passed, $failed failed, $skipped skipped, $measured measured in $seconds s"

json_string() {  # a JSON string literal of $1
  local s=$1
  s=${s//\\/\\\\}; s=${s//\"/\\\"}; s=${s//$'\t'/ }; s=${s//$'\n'/ }; s=${s//$'\r'/ }
  printf '"%s"' "$s"
}
if [ -n "$output" ]; then
  {
    printf '{\n  "version": 1,\n  "mode": %s,\n' "$(json_string "$mode")"
    printf '  "host": {"gpu": %s, "uuid": %s, "memory_bytes": %s, "driver_version": %s, "cuda_driver_version": %s, "os_kernel": %s,\n' \
      "$(json_string "$gpu_name")" "$(json_string "$uuid")" "$gpu_bytes" "$(json_string "$driver_version")" \
      "${cuda_driver:-0}" "$(json_string "$(uname -r)")"
    printf '           "frameworks": {'
    sep=""
    for v in "${versions[@]}"; do printf '%s%s: %s' "$sep" "$(json_string "${v%% *}")" "$(json_string "${v#* }")"; sep=", "; done
    printf '}},\n'
    printf '  "slice": {"memory_bytes": %s},\n' "$slice_bytes"
    printf '  "checks": [\n'
    for i in "${!names[@]}"; do
      printf '    {"name": %s, "result": %s, "figure": %s, "detail": %s}%s\n' \
        "$(json_string "${names[$i]}")" "$(json_string "${results[$i]}")" \
        "$(json_string "${figures[$i]}")" "$(json_string "${details[$i]}")" \
        "$([ "$i" -lt $(( ${#names[@]} - 1 )) ] && echo ,)"
    done
    printf '  ],\n  "summary": {"pass": %d, "fail": %d, "skip": %d, "measured": %d, "seconds": %d}\n}\n' \
      "$passed" "$failed" "$skipped" "$measured" "$seconds"
  } >"$output" || { echo "gpu-proof: cannot write $output" >&2; exit 2; }
  progress "results written to $output"
fi
[ "$failed" -eq 0 ]
