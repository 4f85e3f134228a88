#!/usr/bin/env bash
# Builds the Karpenter test tooling into a cache outside the repository and prints the directory
# holding the binaries on stdout: karpenter-oracle (Karpenter's own provisioning on gpuslice
# plan's inputs) and, with --kwok, karpenter-kwok too (Karpenter's controller with the kwok
# provider serving the catalog). A build keyed by the same sources is reused, so only the first
# run compiles Karpenter (minutes).
#
#   usage: tools/karpenter-oracle/build.sh [--kwok]
#
#   GPUSLICE_CACHE   cache root (default /var/cache/gpuslice); the oracle lives under
#                    $GPUSLICE_CACHE/karpenter-oracle/<karpenter version>-<source hash>/
#   GOTOOLCHAIN      the Go toolchain (default go1.27.3: Karpenter v1.15 needs Go >= 1.26.9;
#                    the go command fetches it from the Go module proxy)
#
# Exit status: 0 built or reused; 77 Go or the Go module proxy is unavailable (the reason on
# stderr); 1 the build failed.
set -euo pipefail

targets=(karpenter-oracle:.)
if [[ "${1:-}" == "--kwok" ]]; then
  targets+=(karpenter-kwok:./cmd/karpenter-kwok)
elif [[ $# -gt 0 ]]; then
  echo "usage: $0 [--kwok]" >&2
  exit 2
fi

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache_root="${GPUSLICE_CACHE:-/var/cache/gpuslice}/karpenter-oracle"
export GOTOOLCHAIN="${GOTOOLCHAIN:-go1.27.3}"
export GOFLAGS="${GOFLAGS:-} -mod=readonly"
export GOCACHE="$cache_root/go-build"

skip() {
  echo "karpenter-oracle: $*" >&2
  exit 77
}

command -v go >/dev/null 2>&1 || skip "no go command on PATH (install Go to run the Karpenter agreement check)"
command -v sha256sum >/dev/null 2>&1 || skip "no sha256sum on PATH"
mkdir -p "$cache_root" 2>/dev/null || skip "cannot create the cache directory $cache_root (set GPUSLICE_CACHE)"
[[ -w "$cache_root" ]] || skip "the cache directory $cache_root is not writable (set GPUSLICE_CACHE)"

version="$(awk '$1 == "sigs.k8s.io/karpenter" { print $2 }' "$here/go.mod")"
hash="$(cd "$here" && find . -name '*.go' -o -name go.mod -o -name go.sum -o -name build.sh |
  LC_ALL=C sort | xargs cat | sha256sum | cut -c1-16)"
out="$cache_root/$version-$hash"
missing=()
for target in "${targets[@]}"; do
  [[ -x "$out/${target%%:*}" ]] || missing+=("$target")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "$out"
  exit 0
fi

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
cd "$here"
# The toolchain switch and the module download are what need the proxy: a failure there is
# "unavailable", a failure after it is a broken build.
if ! go version >"$log" 2>&1; then
  skip "the Go toolchain $GOTOOLCHAIN is unavailable: $(tail -n 3 "$log" | tr '\n' ' ')"
fi
echo "karpenter-oracle: building Karpenter $version with $(go version | cut -d' ' -f3) into $out (first build: several minutes)" >&2
if ! go mod download >"$log" 2>&1; then
  skip "downloading modules from the Go module proxy failed: $(tail -n 3 "$log" | tr '\n' ' ')"
fi
mkdir -p "$out"
for target in "${missing[@]}"; do
  name="${target%%:*}"
  if ! go build -trimpath -o "$out/$name.tmp" "${target#*:}" >"$log" 2>&1; then
    cat "$log" >&2
    exit 1
  fi
  mv "$out/$name.tmp" "$out/$name"
done
echo "$out"
