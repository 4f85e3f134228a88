#!/usr/bin/env bash
# Builds the libFuzzer targets (the `fuzz` preset: clang, ASan, UBSan) and runs each one for a
# bounded time over a copy of its committed corpus. Exit 0 when no fuzzer found anything, 1
# when one did (the input is kept and named, with the command that reproduces it), 77 (ctest's
# skip) when clang 14 or its libFuzzer runtime is not installed.
#
# usage: tests/fuzz/run_fuzzers.sh SOURCE_DIR
#   GPUSLICE_FUZZ_SECONDS  seconds per target (default 20)
#   GPUSLICE_FUZZ_TARGETS  space-separated targets to run (default: all)
set -uo pipefail

source_dir=$(cd "${1:?usage: run_fuzzers.sh SOURCE_DIR}" && pwd)
seconds=${GPUSLICE_FUZZ_SECONDS:-20}
build_dir="$source_dir/build/fuzz"

if ! command -v clang++-14 >/dev/null 2>&1; then
  echo "SKIP: clang++-14 is not installed (scripts/setup.sh --test-tools installs clang-14)"
  exit 77
fi
runtime=$(clang++-14 -print-file-name=libclang_rt.fuzzer-x86_64.a)
if [ ! -f "$runtime" ]; then
  echo "SKIP: libFuzzer's runtime is not installed (scripts/setup.sh --test-tools installs" \
       "libclang-rt-14-dev)"
  exit 77
fi

launcher=()
if command -v ccache >/dev/null 2>&1; then
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
cd "$source_dir"
if ! cmake --preset fuzz "${launcher[@]}" >"$build_dir.configure.log" 2>&1; then
  cat "$build_dir.configure.log"
  echo "FAIL: the fuzz preset does not configure"
  exit 1
fi
if ! cmake --build "$build_dir" --target gpuslice_fuzzers -j "$(nproc)"; then
  echo "FAIL: the fuzz targets do not build"
  exit 1
fi

targets=${GPUSLICE_FUZZ_TARGETS:-$(cd "$source_dir/tests/fuzz/corpus" && echo *)}
work=$(mktemp -d "${TMPDIR:-/tmp}/gpuslice-fuzz-XXXXXX")
trap 'rm -rf "$work"' EXIT
failed=()
for target in $targets; do
  fuzzer="$build_dir/bin/fuzz_$target"
  seeds="$source_dir/tests/fuzz/corpus/$target"
  mkdir -p "$work/$target" "$work/findings"
  echo "== fuzz_$target: ${seconds}s from $(ls "$seeds" | wc -l) seeds"
  # New inputs go to the scratch corpus (first directory); the committed seeds stay as they are.
  if ! "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$work/findings/$target-" "$work/$target" "$seeds" \
      >"$work/$target.log" 2>&1; then
    tail -n 60 "$work/$target.log"
    kept="$build_dir/findings"
    mkdir -p "$kept"
    cp "$work/findings/$target-"* "$kept/" 2>/dev/null
    for finding in "$kept/$target-"*; do
      echo "FINDING: $finding"
      echo "  reproduce: $fuzzer $finding"
      echo "  then add it to tests/fuzz/corpus/$target/ (fuzz_corpus_test runs it) and fix it"
    done
    failed+=("$target")
  else
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$work/$target.log" |
      sed "s/^/   /"
  fi
done
if [ "${#failed[@]}" -gt 0 ]; then
  echo "FAIL: findings in ${failed[*]}"
  exit 1
fi
echo "OK: no findings in $(echo $targets | wc -w) targets, ${seconds}s each"
