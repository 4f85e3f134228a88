#!/usr/bin/env bash
# A real kube-apiserver with its own etcd, on free loopback ports in STATE_DIR, for the tests of
# the API client and the DRA driver (ctest fixture kube_apiserver). It uses the binaries
# scripts/cluster.sh builds (cached in /var/cache/gpuslice/cluster) and shares nothing with
# that cluster: no lock, no fixed port, no kubelet. Without the binaries it exits 77 (ctest:
# skipped) and leaves the reason in STATE_DIR/skip, which the tests report.
#   apiserver.sh up STATE_DIR    |    apiserver.sh down STATE_DIR
#
# STATE_DIR then holds: server (the URL), ca.crt, admin.kubeconfig (certificate data inline),
# admin-files.kubeconfig (certificate files, relative paths), tokens.csv (static tokens: token-alice
# is user alice, token-bob user bob), sa.key (service-account signing key), logs.
set -euo pipefail

readonly CACHE=${GPUSLICE_CLUSTER_CACHE:-/var/cache/gpuslice/cluster}
readonly K8S_BIN=$CACHE/kubernetes-v1.37.2/bin
readonly ETCD_BIN=$CACHE/etcd-v3.6.16/bin

skip() {
  mkdir -p "$STATE_DIR"
  echo "$*" >"$STATE_DIR/skip"
  echo "kube-apiserver fixture: skipped: $*" >&2
  exit 77
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

cert() {
  local name=$1 subject=$2 extensions=$3
  openssl req -new -newkey rsa:2048 -nodes -keyout "$STATE_DIR/$name.key" -subj "$subject" \
    -out "$STATE_DIR/$name.csr" 2>/dev/null
  openssl x509 -req -in "$STATE_DIR/$name.csr" -CA "$STATE_DIR/ca.crt" -CAkey "$STATE_DIR/ca.key" \
    -CAcreateserial -days 2 -sha256 -extfile <(printf '%s\n' "$extensions") \
    -out "$STATE_DIR/$name.crt" 2>/dev/null
  rm -f "$STATE_DIR/$name.csr"
}

stop() {
  local name pid
  for name in kube-apiserver etcd; do
    pid=$(cat "$STATE_DIR/$name.pid" 2>/dev/null) || continue
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$STATE_DIR/$name.pid"
  done
}

up() {
  [ -x "$K8S_BIN/kube-apiserver" ] && [ -x "$ETCD_BIN/etcd" ] ||
    skip "no kube-apiserver and etcd in $CACHE: scripts/cluster.sh up builds them (needs Go and the Go module proxy)"
  command -v openssl >/dev/null || skip "openssl is not installed"
  command -v python3 >/dev/null || skip "python3 is not installed (it picks free ports)"
  stop
  rm -rf "$STATE_DIR"
  mkdir -p "$STATE_DIR/logs"
  openssl req -x509 -new -newkey rsa:2048 -nodes -keyout "$STATE_DIR/ca.key" -subj "/CN=gpuslice-test-ca" \
    -days 2 -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$STATE_DIR/ca.crt" 2>/dev/null
  cert apiserver "/CN=kube-apiserver" \
    "subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth"
  cert admin "/O=system:masters/CN=gpuslice-test-admin" "extendedKeyUsage=clientAuth"
  openssl genrsa -out "$STATE_DIR/sa.key" 2048 2>/dev/null
  openssl rsa -in "$STATE_DIR/sa.key" -pubout -out "$STATE_DIR/sa.pub" 2>/dev/null
  printf 'token-alice,alice,uid-alice\ntoken-bob,bob,uid-bob\n' >"$STATE_DIR/tokens.csv"

  local etcd_client etcd_peer apiserver
  etcd_client=$(free_port)
  etcd_peer=$(free_port)
  apiserver=$(free_port)
  setsid "$ETCD_BIN/etcd" --name=fixture --data-dir="$STATE_DIR/etcd" \
    --listen-client-urls="http://127.0.0.1:$etcd_client" \
    --advertise-client-urls="http://127.0.0.1:$etcd_client" \
    --listen-peer-urls="http://127.0.0.1:$etcd_peer" \
    --initial-advertise-peer-urls="http://127.0.0.1:$etcd_peer" \
    --initial-cluster="fixture=http://127.0.0.1:$etcd_peer" \
    --unsafe-no-fsync=true --log-level=warn >"$STATE_DIR/logs/etcd.log" 2>&1 </dev/null &
  echo $! >"$STATE_DIR/etcd.pid"
  setsid "$K8S_BIN/kube-apiserver" --etcd-servers="http://127.0.0.1:$etcd_client" \
    --bind-address=127.0.0.1 --secure-port="$apiserver" --advertise-address=127.0.0.1 \
    --authorization-mode=RBAC --client-ca-file="$STATE_DIR/ca.crt" \
    --tls-cert-file="$STATE_DIR/apiserver.crt" --tls-private-key-file="$STATE_DIR/apiserver.key" \
    --token-auth-file="$STATE_DIR/tokens.csv" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$STATE_DIR/sa.pub" \
    --service-account-signing-key-file="$STATE_DIR/sa.key" \
    --service-cluster-ip-range=10.0.0.0/24 --cert-dir="$STATE_DIR/certs" --profiling=false \
    --endpoint-reconciler-type=none \
    >"$STATE_DIR/logs/kube-apiserver.log" 2>&1 </dev/null &
  echo $! >"$STATE_DIR/kube-apiserver.pid"

  local server="https://127.0.0.1:$apiserver"
  local deadline=$((SECONDS + 180))
  until curl -fsS --max-time 5 --cacert "$STATE_DIR/ca.crt" --cert "$STATE_DIR/admin.crt" \
      --key "$STATE_DIR/admin.key" "$server/readyz" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ] || ! kill -0 "$(cat "$STATE_DIR/kube-apiserver.pid")" 2>/dev/null; then
      tail -n 30 "$STATE_DIR/logs/kube-apiserver.log" >&2
      stop
      echo "kube-apiserver fixture: the API server did not become ready; see $STATE_DIR/logs" >&2
      exit 1
    fi
    sleep 1
  done
  cat >"$STATE_DIR/admin.kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: fixture
  cluster:
    server: $server
    certificate-authority-data: $(base64 -w0 "$STATE_DIR/ca.crt")
users:
- name: admin
  user:
    client-certificate-data: $(base64 -w0 "$STATE_DIR/admin.crt")
    client-key-data: $(base64 -w0 "$STATE_DIR/admin.key")
contexts:
- name: fixture
  context: {cluster: fixture, user: admin}
current-context: fixture
KUBECONFIG
  cat >"$STATE_DIR/admin-files.kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: fixture
  cluster: {server: "$server", certificate-authority: ca.crt}
users:
- name: admin
  user: {client-certificate: admin.crt, client-key: admin.key}
contexts:
- name: fixture
  context: {cluster: fixture, user: admin, namespace: kube-system}
current-context: fixture
KUBECONFIG
  echo "$server" >"$STATE_DIR/server"
  echo "kube-apiserver fixture: ready at $server" >&2
}

case "${1:-}" in
  up) [ "$#" -eq 2 ] || { echo "usage: $0 up STATE_DIR" >&2; exit 2; }
      STATE_DIR=$2; up ;;
  down) [ "$#" -eq 2 ] || { echo "usage: $0 down STATE_DIR" >&2; exit 2; }
        STATE_DIR=$2; stop ;;
  *) echo "usage: $0 up STATE_DIR | down STATE_DIR" >&2; exit 2 ;;
esac
