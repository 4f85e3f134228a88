#!/usr/bin/env bash
# gpuslice's NodeOverlays on a real Kubernetes control plane with Karpenter's real controller:
# etcd, kube-apiserver and kube-scheduler of the release scripts/cluster.sh builds (taken from
# its cache, run privately on loopback ports so the shared single-node cluster is left alone),
# and karpenter-kwok (Karpenter's operator with every controller, NodeOverlay gate on, and the
# kwok cloud provider offering gpuslice's catalog). It applies a case's NodePools, the
# NodeOverlays `gpuslice render` writes for them and its pods asking for the slice resource,
# waits until Karpenter has launched NodeClaims for every pod, and compares them (NodePool,
# instance type, count) with `gpuslice plan`'s sliced scenario and with karpenter-oracle.
#
# usage: tools/karpenter-oracle/cluster-check.sh GPUSLICE [CASE_PATHS...]
#   GPUSLICE     the gpuslice binary
#   CASE_PATHS   NodePools and workloads (default: the bundled examples' pools and workloads)
# environment:
#   GPUSLICE_CLUSTER_CACHE   where scripts/cluster.sh keeps its builds (default
#                            /var/cache/gpuslice/cluster)
#   GPUSLICE_RENDER_FLAGS    gpuslice render's profile flags (default --slice-memory 4Gi)
# Exit status: 0 the NodeClaims agree; 1 they do not or a step failed; 77 a prerequisite is
# missing (the reason on stderr).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cluster_cache="${GPUSLICE_CLUSTER_CACHE:-/var/cache/gpuslice/cluster}"
render_flags="${GPUSLICE_RENDER_FLAGS:---slice-memory 4Gi}"
k8s_bin="$cluster_cache/kubernetes-v1.37.2/bin"
etcd_bin="$cluster_cache/etcd-v3.6.16/bin"

skip() {
  echo "cluster-check: $*" >&2
  exit 77
}
log() { echo "cluster-check: $*" >&2; }

[[ $# -ge 1 && -x "$1" ]] || { echo "usage: $0 GPUSLICE [CASE_PATHS...]" >&2; exit 2; }
gpuslice="$1"
shift
paths=("$@")
[[ ${#paths[@]} -gt 0 ]] ||
  paths=("$repo/examples/nodepool-gpu.yaml" "$repo/examples/gpu-example-deployment.yaml"
    "$repo/examples/gpu-example-pod.yaml" "$repo/examples/inference")

for b in "$k8s_bin/kube-apiserver" "$k8s_bin/kube-scheduler" "$k8s_bin/kubectl" "$etcd_bin/etcd"; do
  [[ -x "$b" ]] || skip "$b is missing: scripts/cluster.sh up builds it (Go module proxy) into $cluster_cache"
done
command -v openssl >/dev/null || skip "openssl is missing"
tools="$("$here/build.sh" --kwok)" || exit $?

work="$(mktemp -d /tmp/karpenter-cluster-XXXXXX)"
pids=()
# Stops a process and waits at most 10 s for it before killing it: kube-apiserver's graceful
# shutdown can outlast any wait once etcd is gone, and a check must never hang.
stop() {
  local pid="$1"
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 20); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local i
  # In reverse order of start, so etcd outlives the API server that talks to it.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do stop "${pids[i]}"; done
  if [[ -n "${KEEP:-}" ]]; then log "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# --- a private control plane -------------------------------------------------------------
read -r etcd_port peer_port api_port metrics_port probe_port <<<"$("$tools/karpenter-oracle" --free-ports 5 | tr '\n' ' ')"
token="$(openssl rand -hex 16)"
echo "$token,admin,admin,system:masters" >"$work/tokens.csv"
openssl genrsa -out "$work/sa.key" 2048 2>/dev/null
openssl rsa -in "$work/sa.key" -pubout -out "$work/sa.pub" 2>/dev/null
"$etcd_bin/etcd" --name=karpenter-check --data-dir="$work/etcd" \
  --listen-client-urls="http://127.0.0.1:$etcd_port" --advertise-client-urls="http://127.0.0.1:$etcd_port" \
  --listen-peer-urls="http://127.0.0.1:$peer_port" --initial-advertise-peer-urls="http://127.0.0.1:$peer_port" \
  --initial-cluster="karpenter-check=http://127.0.0.1:$peer_port" --unsafe-no-fsync=true \
  --log-level=warn >"$work/etcd.log" 2>&1 &
pids+=($!)
# Bare pods and no controller-manager: no ServiceAccount admission (nothing creates the
# default service account).
"$k8s_bin/kube-apiserver" --etcd-servers="http://127.0.0.1:$etcd_port" --bind-address=127.0.0.1 \
  --secure-port="$api_port" --advertise-address=127.0.0.1 --authorization-mode=RBAC \
  --token-auth-file="$work/tokens.csv" --cert-dir="$work/certs" \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$work/sa.pub" --service-account-signing-key-file="$work/sa.key" \
  --service-cluster-ip-range=10.0.0.0/24 --disable-admission-plugins=ServiceAccount \
  --profiling=false --endpoint-reconciler-type=none >"$work/apiserver.log" 2>&1 &
pids+=($!)
cat >"$work/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: check, cluster: {server: "https://127.0.0.1:$api_port", insecure-skip-tls-verify: true}}]
users: [{name: admin, user: {token: "$token"}}]
contexts: [{name: check, context: {cluster: check, user: admin}}]
current-context: check
EOF
export KUBECONFIG="$work/kubeconfig"
# Every request is bounded, so a wedged API server fails the check instead of hanging it.
kubectl() { "$k8s_bin/kubectl" --request-timeout=30s "$@"; }

wait_for() {  # seconds, description, command...
  local deadline=$((SECONDS + $1)) what="$2"
  shift 2
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS > deadline)); then log "timed out waiting for $what"; return 1; fi
    sleep 1
  done
}
wait_for 120 "kube-apiserver" kubectl get --raw /readyz || { tail -20 "$work/apiserver.log" >&2; exit 1; }
"$k8s_bin/kube-scheduler" --kubeconfig="$work/kubeconfig" --authentication-kubeconfig="$work/kubeconfig" \
  --authorization-kubeconfig="$work/kubeconfig" --leader-elect=false --secure-port=0 \
  >"$work/scheduler.log" 2>&1 &
pids+=($!)
log "control plane up: kube-apiserver $("$k8s_bin/kube-apiserver" --version | cut -d' ' -f2) on :$api_port"

# --- the case -----------------------------------------------------------------------------
mkdir -p "$work/case"
"$tools/karpenter-oracle" --emit-pods whole "${paths[@]}" >/dev/null  # validates the input
# NodePools, then render's overlays for them, then the pods as the sliced scenario asks.
"$gpuslice" render "${paths[@]}" $render_flags --output-dir "$work/render" -o json >/dev/null
pools_for_cluster="$work/case/nodepools.yaml"
sed -e 's/group: karpenter.k8s.aws/group: karpenter.kwok.sh/' -e 's/kind: EC2NodeClass/kind: KWOKNodeClass/' \
  "$work/render/nodepools.yaml" >"$pools_for_cluster"
"$tools/karpenter-oracle" --emit-pods sliced "${paths[@]}" "$work/render/nodeoverlays.yaml" >"$work/case/pods.yaml"
pod_count="$(grep -c '^kind: Pod$' "$work/case/pods.yaml")"

"$gpuslice" plan "$pools_for_cluster" "$work/render/nodeoverlays.yaml" "$work/case/pods.yaml" \
  --no-optimal -o json >"$work/plan.json"
"$tools/karpenter-oracle" --catalog "$repo/src/plan/data/aws-us-east-1.csv" --scenario sliced \
  "$pools_for_cluster" "$work/render/nodeoverlays.yaml" "$work/case/pods.yaml" >"$work/oracle.json"

"$tools/karpenter-kwok" crds | kubectl apply -f - >/dev/null
kubectl wait --for condition=established --timeout=60s crd --all >/dev/null
kubectl apply -f - >/dev/null <<EOF
apiVersion: karpenter.kwok.sh/v1alpha1
kind: KWOKNodeClass
metadata: {name: default}
EOF
# The kwok provider has no NodeClass controller: mark the class Ready as one would.
kubectl patch kwoknodeclass default --subresource=status --type=merge -p \
  "{\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\",\"reason\":\"Ready\",\"message\":\"\",\"lastTransitionTime\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\"}]}}" >/dev/null
kubectl apply -f "$pools_for_cluster" -f "$work/render/nodeoverlays.yaml" >/dev/null
for ns in $(sed -n 's/^  namespace: //p' "$work/case/pods.yaml" | sort -u); do
  kubectl get namespace "$ns" >/dev/null 2>&1 || kubectl create namespace "$ns" >/dev/null
done

GPUSLICE_CATALOG="$repo/src/plan/data/aws-us-east-1.csv" SYSTEM_NAMESPACE=kube-system \
  "$tools/karpenter-kwok" --feature-gates=NodeOverlay=true --disable-leader-election \
  --metrics-port="$metrics_port" --health-probe-port="$probe_port" \
  --batch-idle-duration=5s --batch-max-duration=30s --log-level=info >"$work/karpenter.log" 2>&1 &
pids+=($!)
# Karpenter evaluates the overlays before it provisions; then the pods arrive in one batch.
overlays_ready() {
  local want
  want="$(grep -c '^kind: NodeOverlay' "$work/render/nodeoverlays.yaml")"
  [[ "$(kubectl get nodeoverlays -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{" "}{end}' |
    grep -o True | wc -l)" == "$want" ]]
}
wait_for 180 "Karpenter to validate the NodeOverlays" overlays_ready || { tail -30 "$work/karpenter.log" >&2; exit 1; }
kubectl apply -f "$work/case/pods.yaml" >/dev/null
log "applied $pod_count pods; waiting for Karpenter's NodeClaims"

# Done when the NodeClaim count has held for 20 s.
last="" steady=0
for _ in $(seq 1 180); do
  sleep 2
  now="$(kubectl get nodeclaims --no-headers 2>/dev/null | wc -l)"
  if [[ "$now" == "$last" && "$now" != "0" ]]; then steady=$((steady + 1)); else steady=0; fi
  last="$now"
  ((steady >= 10)) && break
done
kubectl get nodeclaims -o json >"$work/nodeclaims.json"
"$tools/karpenter-oracle" --compare-cluster "$work/plan.json" "$work/oracle.json" "$work/nodeclaims.json"
