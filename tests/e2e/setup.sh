#!/usr/bin/env bash
# The e2e suite's fixture: a fresh real cluster (scripts/cluster.sh), the gpuslice image built
# from the Dockerfile, the probe image, and the node dressed as a tainted GPU node of a
# Karpenter GPU NodePool. Exits 77 (ctest: skipped) with the reason in $STATE_DIR/skip when
# this machine cannot build the cluster; the e2e tests then skip with that reason.
#   tests/e2e/setup.sh up BIN_DIR STATE_DIR    |    tests/e2e/setup.sh down STATE_DIR
set -euo pipefail

readonly REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
readonly CLUSTER=$REPO/scripts/cluster.sh
readonly PROBE_IMAGE=localhost/gpuslice-cuda-probe:e2e

skip() {
  mkdir -p "$STATE_DIR"
  echo "$*" >"$STATE_DIR/skip"
  echo "e2e: skipped: $*" >&2
  exit 77
}

# An image with the probe and nothing else but glibc's own libraries: what the simulated
# driver and libgpuslice.so must load in.
build_probe_image() {
  local probe=$1 container mount
  container=$(buildah from scratch)
  mount=$(buildah mount "$container")
  mkdir -p "$mount/bin" "$mount/lib/x86_64-linux-gnu" "$mount/lib64" "$mount/tmp"
  dpkg -L libc6 | grep -E '^/(usr/)?lib(64|/x86_64-linux-gnu)/[^/]+\.so(\.[0-9]+)*$' |
    while read -r library; do cp -a "$(readlink -f "$library")" "$mount/lib/x86_64-linux-gnu/$(basename "$library")"; done
  ln -sf ../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "$mount/lib64/ld-linux-x86-64.so.2"
  install -m 0755 "$probe" "$mount/bin/cuda-probe"
  buildah umount "$container" >/dev/null
  buildah config --entrypoint '["/bin/cuda-probe"]' --cmd sleep "$container"
  buildah commit --quiet "$container" "$PROBE_IMAGE" >/dev/null
  buildah rm "$container" >/dev/null
  local archive
  archive=$(mktemp -u /tmp/gpuslice-probe-XXXXXX.tar)
  buildah push --quiet "$PROBE_IMAGE" "docker-archive:$archive:$PROBE_IMAGE" >/dev/null
  "$CLUSTER" load "$archive"
  rm -f "$archive"
}

up() {
  local bin_dir=$1
  rm -f "$STATE_DIR/skip"
  [ "$(id -u)" -eq 0 ] || skip "the e2e suite runs a kubelet and a container runtime: run it as root"
  command -v go >/dev/null 2>&1 || skip "Go is not installed: scripts/cluster.sh builds Kubernetes from sources with it"
  if [ ! -x "${GPUSLICE_CLUSTER_CACHE:-/var/cache/gpuslice/cluster}/kubernetes-v1.37.2/bin/kubelet" ]; then
    local proxy
    proxy=$(go env GOPROXY | cut -d, -f1)
    curl -fsS --max-time 20 "$proxy/k8s.io/kubernetes/@v/list" >/dev/null 2>&1 ||
      skip "the Go module proxy $proxy is unreachable: scripts/cluster.sh builds Kubernetes from it"
  fi
  command -v helm >/dev/null 2>&1 || skip "helm is not installed (scripts/setup.sh --test-tools installs it)"
  local start=$SECONDS
  "$CLUSTER" down
  "$CLUSTER" up
  "$CLUSTER" image
  build_probe_image "$bin_dir/gpuslice-cuda-probe"
  eval "$("$CLUSTER" env)"
  local node
  node=$(kubectl get nodes -o jsonpath='{.items[0].metadata.name}')
  # As a node of the README's Karpenter GPU NodePool: labelled as a GPU node, tainted.
  kubectl label node "$node" --overwrite nvidia.com/gpu.present=true karpenter.sh/nodepool=gpu >/dev/null
  kubectl taint node "$node" --overwrite nvidia.com/gpu=true:NoSchedule >/dev/null
  mkdir -p "$STATE_DIR"
  echo "$((SECONDS - start))" >"$STATE_DIR/setup-seconds"
  echo "e2e: cluster, images and node ready in $((SECONDS - start)) s" >&2
}

case "${1:-}" in
  up) [ "$#" -eq 3 ] || { echo "usage: $0 up BIN_DIR STATE_DIR" >&2; exit 2; }
      STATE_DIR=$3; up "$2" ;;
  down) [ "$#" -eq 2 ] || { echo "usage: $0 down STATE_DIR" >&2; exit 2; }
        STATE_DIR=$2; [ -f "$STATE_DIR/skip" ] || "$CLUSTER" down ;;
  *) echo "usage: $0 up BIN_DIR STATE_DIR | down STATE_DIR" >&2; exit 2 ;;
esac
