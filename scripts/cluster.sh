#!/usr/bin/env bash
# A real single-node Kubernetes on this machine, built from upstream sources: kube-apiserver,
# kube-controller-manager, kube-scheduler, kubelet, kube-proxy and kubectl of one pinned release
# from the Go module proxy, etcd and containerd built the same way, runc and the CNI plugins from
# Debian. It is what the e2e suite (ctest -L e2e) runs gpuslice on; see docs/testing.md.
set -euo pipefail

readonly K8S_VERSION=1.37.2
readonly ETCD_VERSION=3.6.16
readonly CONTAINERD_VERSION=2.2.9
readonly PAUSE_IMAGE=registry.k8s.io/pause:3.10.1
readonly DEBIAN_SUITE=bookworm
readonly GO_MINIMUM=1.26

readonly REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly CACHE=${GPUSLICE_CLUSTER_CACHE:-/var/cache/gpuslice/cluster}
readonly STATE=${GPUSLICE_CLUSTER_STATE:-/var/lib/gpuslice-cluster}
readonly RUN_DIR=/run/gpuslice-cluster
readonly KUBELET_DIR=/var/lib/kubelet
readonly CNI_BIN_DIR=/usr/lib/cni
readonly POD_CIDR=10.88.0.0/16
readonly SERVICE_CIDR=10.96.0.0/16
readonly API_SERVICE_IP=10.96.0.1
readonly BRIDGE=gpuslice0

readonly K8S_BIN=$CACHE/kubernetes-v$K8S_VERSION/bin
readonly ETCD_BIN=$CACHE/etcd-v$ETCD_VERSION/bin
readonly CONTAINERD_BIN=$CACHE/containerd-v$CONTAINERD_VERSION/bin
readonly PKI=$STATE/pki
readonly LOGS=$STATE/logs
readonly CONTAINERD_SOCKET=$RUN_DIR/containerd/containerd.sock
# Start order; `down` stops them in reverse.
readonly COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet kube-proxy)

usage() {
  cat <<USAGE
usage: scripts/cluster.sh COMMAND [ARGS]

A real single-node Kubernetes v$K8S_VERSION on this machine, built from upstream sources
(Go module proxy) on first use and cached in $CACHE.

commands:
  up                 build what is missing, start the cluster, wait until the node is Ready
  down               stop every process it started and remove the cluster's state
  status             print each component's state; exit 0 only when all run
  env                print shell exports: eval "\$(scripts/cluster.sh env)" makes kubectl
                     and helm use the cluster
  image              build the gpuslice image from the Dockerfile with buildah (debian:12 bases
                     made with debootstrap) and load it into the cluster's runtime
  load IMAGE.tar     load a docker-archive or OCI tarball into the cluster's runtime
  restart COMPONENT  stop and start one of: ${COMPONENTS[*]}
  logs COMPONENT     print a component's log
  help               this text

environment:
  GPUSLICE_CLUSTER_CACHE   build cache (default /var/cache/gpuslice/cluster)
  GPUSLICE_CLUSTER_STATE   cluster state (default /var/lib/gpuslice-cluster)
USAGE
}

log() { printf 'cluster.sh: %s\n' "$*" >&2; }
die() { printf 'cluster.sh: %s\n' "$*" >&2; exit 1; }

require_root() {
  [ "$(id -u)" -eq 0 ] || die "run as root: it starts a kubelet, a container runtime and iptables rules"
}

node_name() { hostname | tr '[:upper:]' '[:lower:]'; }

# The address pods reach the API server at: the host's, never loopback (a pod's loopback is
# its own).
host_ip() {
  local ip
  ip=$(ip -4 route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p' | head -n1)
  [ -n "$ip" ] || ip=$(hostname -I 2>/dev/null | awk '{print $1}')
  [ -n "$ip" ] || die "cannot find this machine's IPv4 address (no default route)"
  echo "$ip"
}

# ---------------------------------------------------------------------------------------------
# Host packages

install_packages() {
  local wanted=(runc containernetworking-plugins iptables conntrack openssl buildah debootstrap
                ca-certificates curl)
  local missing=() p
  for p in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# ---------------------------------------------------------------------------------------------
# Building from the Go module proxy

require_go() {
  command -v go >/dev/null 2>&1 || die "Go is not installed: the cluster is built from sources with Go >= $GO_MINIMUM"
  local version
  version=$(go env GOVERSION 2>/dev/null | sed 's/^go//')
  if ! printf '%s\n%s\n' "$GO_MINIMUM" "$version" | sort -V -C; then
    die "Go $version is too old: Kubernetes v$K8S_VERSION needs Go >= $GO_MINIMUM"
  fi
  local proxy
  proxy=$(go env GOPROXY | cut -d, -f1)
  [ "$proxy" = direct ] || [ "$proxy" = off ] && return 0
  curl -fsS --max-time 20 "$proxy/k8s.io/kubernetes/@v/list" >/dev/null 2>&1 ||
    die "the Go module proxy $proxy is unreachable: the first 'up' builds Kubernetes from it"
}

# go_build DIR MODULE_BODY PACKAGES... : builds PACKAGES into DIR/bin from a throwaway module.
go_build() {
  local dir=$1 module=$2 ldflags=$3
  shift 3
  mkdir -p "$dir/src"
  printf '%s\n' "$module" >"$dir/src/go.mod"
  {
    echo "//go:build tools"
    echo
    echo "package tools"
    echo
    echo "import ("
    local package
    for package in "$@"; do echo "	_ \"$package\""; done
    echo ")"
  } >"$dir/src/tools.go"
  (cd "$dir/src" && go mod tidy >/dev/null) || die "go mod tidy failed in $dir/src"
  (cd "$dir/src" && CGO_ENABLED=${CGO_ENABLED:-0} go build -trimpath -tags "${GO_TAGS:-}" \
     -ldflags "$ldflags" -o "$dir/bin.new/" "$@") || die "building $* failed"
  rm -rf "$dir/bin"
  mv "$dir/bin.new" "$dir/bin"
}

build_kubernetes() {
  [ -x "$K8S_BIN/kubelet" ] && return 0
  require_go
  log "building Kubernetes v$K8S_VERSION from the Go module proxy (first time only; about 25 minutes on 2 cores)"
  local minor=${K8S_VERSION#1.}
  local staging=(api apiextensions-apiserver apimachinery apiserver cli-runtime client-go
                 cloud-provider cluster-bootstrap code-generator component-base component-helpers
                 controller-manager cri-api cri-client cri-streaming csi-translation-lib
                 dynamic-resource-allocation endpointslice externaljwt kms kube-aggregator
                 kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics
                 mount-utils pod-security-admission sample-apiserver sample-cli-plugin
                 sample-controller streaming)
  # k8s.io/kubernetes points its staging modules at its own tree; outside it they are the
  # published k8s.io/* modules of the same release (v0.<minor>).
  local module="module gpuslice.local/kubernetes-build

go 1.26.0

require k8s.io/kubernetes v$K8S_VERSION

replace (" m
  for m in "${staging[@]}"; do module+=$'\n'"	k8s.io/$m => k8s.io/$m v0.$minor"; done
  module+=$'\n'")"
  local ldflags="-s -w" p
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $p.gitVersion=v$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=${minor%%.*}"
    ldflags+=" -X $p.gitTreeState=clean"
  done
  go_build "$CACHE/kubernetes-v$K8S_VERSION" "$module" "$ldflags" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubelet \
    k8s.io/kubernetes/cmd/kube-proxy k8s.io/kubernetes/cmd/kubectl
}

build_etcd() {
  [ -x "$ETCD_BIN/etcd" ] && return 0
  require_go
  log "building etcd v$ETCD_VERSION from the Go module proxy (first time only)"
  go_build "$CACHE/etcd-v$ETCD_VERSION" "module gpuslice.local/etcd-build

go 1.26.0

require go.etcd.io/etcd/server/v3 v$ETCD_VERSION" "-s -w" go.etcd.io/etcd/server/v3
  # Go names the binary after the package path without its major version suffix: "server".
  mv "$ETCD_BIN/server" "$ETCD_BIN/etcd"
}

build_containerd() {
  [ -x "$CONTAINERD_BIN/containerd" ] && return 0
  require_go
  log "building containerd v$CONTAINERD_VERSION from the Go module proxy (first time only)"
  # Debian's containerd is 1.6, which the kubelet of this release no longer supports and which
  # resolves no CDI devices. Snapshotters needing extra kernel headers are left out.
  GO_TAGS="no_btrfs no_devmapper no_zfs" CGO_ENABLED=1 \
    go_build "$CACHE/containerd-v$CONTAINERD_VERSION" "module gpuslice.local/containerd-build

go 1.26.0

require github.com/containerd/containerd/v2 v$CONTAINERD_VERSION" \
    "-s -w -X github.com/containerd/containerd/v2/version.Version=v$CONTAINERD_VERSION" \
    github.com/containerd/containerd/v2/cmd/containerd \
    github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 \
    github.com/containerd/containerd/v2/cmd/ctr
}

# ---------------------------------------------------------------------------------------------
# Images

# An OCI archive of the pause image, written by hand: one layer holding a static binary.
build_pause_image() {
  local archive=$CACHE/images/pause.tar
  [ -s "$archive" ] && return 0
  log "building the pause image"
  local work
  work=$(mktemp -d)
  mkdir -p "$work/root" "$work/oci/blobs/sha256" "$CACHE/images"
  gcc -static -Os -o "$work/root/pause" "$REPO/scripts/cluster/pause.c"
  tar --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$work/root" -cf "$work/layer.tar" pause
  local layer layer_size config config_digest config_size manifest manifest_digest manifest_size
  layer=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
  layer_size=$(stat -c %s "$work/layer.tar")
  cp "$work/layer.tar" "$work/oci/blobs/sha256/$layer"
  config='{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/pause"],"User":"65535:65535"},"rootfs":{"type":"layers","diff_ids":["sha256:'$layer'"]}}'
  printf '%s' "$config" >"$work/config.json"
  config_digest=$(sha256sum "$work/config.json" | cut -d' ' -f1)
  config_size=$(stat -c %s "$work/config.json")
  cp "$work/config.json" "$work/oci/blobs/sha256/$config_digest"
  manifest='{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:'$config_digest'","size":'$config_size'},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:'$layer'","size":'$layer_size'}]}'
  printf '%s' "$manifest" >"$work/manifest.json"
  manifest_digest=$(sha256sum "$work/manifest.json" | cut -d' ' -f1)
  manifest_size=$(stat -c %s "$work/manifest.json")
  cp "$work/manifest.json" "$work/oci/blobs/sha256/$manifest_digest"
  printf '{"imageLayoutVersion":"1.0.0"}' >"$work/oci/oci-layout"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
    "$manifest_digest" "$manifest_size" "$PAUSE_IMAGE" "${PAUSE_IMAGE##*:}" >"$work/oci/index.json"
  tar -C "$work/oci" -cf "$archive.new" oci-layout index.json blobs
  mv "$archive.new" "$archive"
  rm -rf "$work"
}

ctr_k8s() { "$CONTAINERD_BIN/ctr" --address "$CONTAINERD_SOCKET" --namespace k8s.io "$@"; }

load_archive() {
  local archive=$1
  [ -f "$archive" ] || die "load: no such file: $archive"
  is_running containerd || die "load: the cluster is not running (scripts/cluster.sh up)"
  ctr_k8s images import --all-platforms "$archive" >/dev/null ||
    die "load: $archive is not a docker-archive or OCI tarball containerd can import"
  log "loaded $(tar -xOf "$archive" index.json manifest.json 2>/dev/null | grep -o '"[^"]*:[^"]*"' | head -n3 | tr '\n' ' ')"
}

# debian:12 and debian:12-slim for the Dockerfile's FROM lines, made with debootstrap from
# Debian's mirror: there is no registry to pull them from.
ensure_base_images() {
  if buildah inspect --type image docker.io/library/debian:12 >/dev/null 2>&1 &&
     buildah inspect --type image docker.io/library/debian:12-slim >/dev/null 2>&1; then
    return 0
  fi
  local rootfs=$CACHE/debian-$DEBIAN_SUITE-rootfs
  if [ ! -f "$rootfs/.complete" ]; then
    log "making a $DEBIAN_SUITE root file system with debootstrap (first time only)"
    rm -rf "$rootfs"
    local mirror
    mirror=$(sed -n 's/^URIs: *\(http[^ ]*\).*/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)
    [ -n "$mirror" ] || mirror=http://deb.debian.org/debian
    debootstrap --variant=minbase "$DEBIAN_SUITE" "$rootfs" "$mirror" >"$CACHE/debootstrap.log" 2>&1 ||
      die "debootstrap failed; see $CACHE/debootstrap.log"
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    touch "$rootfs/.complete"
  fi
  local container mount
  for tag in 12 12-slim; do
    container=$(buildah from scratch)
    mount=$(buildah mount "$container")
    tar -C "$rootfs" --exclude=./.complete -cf - . | tar -C "$mount" -xf -
    if [ "$tag" = 12-slim ]; then
      rm -rf "$mount"/usr/share/doc/* "$mount"/usr/share/man/* "$mount"/usr/share/info/*
    fi
    buildah umount "$container" >/dev/null
    buildah config --cmd bash --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$container"
    buildah commit --quiet "$container" "docker.io/library/debian:$tag" >/dev/null
    buildah rm "$container" >/dev/null
  done
}

chart_image() {
  local version
  version=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$REPO/deploy/helm/gpuslice/Chart.yaml")
  echo "ghcr.io/gpuslice/gpuslice:$version"
}

build_image() {
  install_packages
  is_running containerd || die "image: the cluster is not running (scripts/cluster.sh up)"
  ensure_base_images
  local tag
  tag=$(chart_image)
  log "building $tag from $REPO/Dockerfile with buildah"
  local start=$SECONDS
  buildah bud --quiet --layers --network host --pull=never -t "$tag" -f "$REPO/Dockerfile" "$REPO" \
    >"$LOGS/image-build.log" 2>&1 || { tail -n 40 "$LOGS/image-build.log" >&2; die "image build failed; see $LOGS/image-build.log"; }
  local archive
  archive=$(mktemp -u /tmp/gpuslice-image-XXXXXX.tar)
  buildah push --quiet "$tag" "docker-archive:$archive:$tag" >/dev/null
  ctr_k8s images import "$archive" >/dev/null 2>&1
  rm -f "$archive"
  log "built and loaded $tag in $((SECONDS - start)) s"
}

# ---------------------------------------------------------------------------------------------
# Certificates and kubeconfigs

make_cert() {
  local name=$1 subject=$2 sans=${3:-}
  [ -f "$PKI/$name.crt" ] && return 0
  openssl genrsa -out "$PKI/$name.key" 2048 2>/dev/null
  openssl req -new -key "$PKI/$name.key" -subj "$subject" -out "$PKI/$name.csr" 2>/dev/null
  local extensions="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth"
  [ -n "$sans" ] && extensions+=$'\n'"subjectAltName=$sans"
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 3650 -sha256 -extfile <(printf '%s\n' "$extensions") -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr"
}

make_kubeconfig() {
  local name=$1 user=$2 server=$3
  cat >"$PKI/$name.kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: gpuslice
  cluster:
    server: $server
    certificate-authority-data: $(base64 -w0 "$PKI/ca.crt")
users:
- name: $user
  user:
    client-certificate-data: $(base64 -w0 "$PKI/$name.crt")
    client-key-data: $(base64 -w0 "$PKI/$name.key")
contexts:
- name: gpuslice
  context: {cluster: gpuslice, user: $user}
current-context: gpuslice
KUBECONFIG
}

make_pki() {
  mkdir -p "$PKI"
  chmod 700 "$PKI"
  local node ip
  node=$(node_name)
  ip=$(host_ip)
  if [ ! -f "$PKI/ca.crt" ]; then
    openssl genrsa -out "$PKI/ca.key" 2048 2>/dev/null
    openssl req -x509 -new -key "$PKI/ca.key" -subj "/CN=gpuslice-cluster-ca" -days 3650 \
      -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$PKI/ca.crt" 2>/dev/null
  fi
  [ -f "$PKI/sa.key" ] || { openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null; openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null; }
  make_cert apiserver "/CN=kube-apiserver" \
    "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,DNS:$node,IP:127.0.0.1,IP:$ip,IP:$API_SERVICE_IP"
  make_cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
  make_cert admin "/O=system:masters/CN=kubernetes-admin"
  make_cert controller-manager "/CN=system:kube-controller-manager"
  make_cert scheduler "/CN=system:kube-scheduler"
  make_cert kube-proxy "/CN=system:kube-proxy"
  make_cert kubelet "/O=system:nodes/CN=system:node:$node" "DNS:$node,DNS:localhost,IP:127.0.0.1,IP:$ip"
  local server=https://127.0.0.1:6443 name
  for name in admin controller-manager scheduler kube-proxy kubelet; do
    make_kubeconfig "$name" "$name" "$server"
  done
}

# ---------------------------------------------------------------------------------------------
# Processes

pid_file() { echo "$RUN_DIR/$1.pid"; }

is_running() {
  local pid
  pid=$(cat "$(pid_file "$1")" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# The command line of each component, one argument per line in $STATE/args/<component>, so a
# restart runs exactly what `up` ran.
write_args() {
  local component=$1
  shift
  mkdir -p "$STATE/args"
  printf '%s\n' "$@" >"$STATE/args/$component"
}

start_component() {
  local component=$1
  is_running "$component" && return 0
  [ -f "$STATE/args/$component" ] || die "no saved command line for $component: run 'up' first"
  local args=()
  mapfile -t args <"$STATE/args/$component"
  mkdir -p "$LOGS" "$RUN_DIR"
  # setsid: the process outlives this shell and gets no terminal signals. Descriptors the
  # caller holds (a `flock` around this script, say) are closed: a daemon would hold them on.
  (
    for fd in /proc/self/fd/*; do
      fd=${fd##*/}
      [ "$fd" -gt 2 ] && eval "exec $fd>&-"
    done 2>/dev/null
    PATH="$CONTAINERD_BIN:$PATH" exec setsid "${args[@]}" >>"$LOGS/$component.log" 2>&1 </dev/null
  ) &
  echo $! >"$(pid_file "$component")"
}

stop_component() {
  local component=$1 pid
  pid=$(cat "$(pid_file "$component")" 2>/dev/null) || return 0
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    local i
    for i in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$(pid_file "$component")"
}

# wait_for SECONDS DESCRIPTION COMMAND...: runs COMMAND every second until it succeeds.
wait_for() {
  local seconds=$1 what=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      die "timed out after ${seconds}s waiting for $what; logs in $LOGS"
    fi
    sleep 1
  done
}

kubectl_admin() { "$K8S_BIN/kubectl" --kubeconfig "$PKI/admin.kubeconfig" "$@"; }

write_component_args() {
  local ip node
  ip=$(host_ip)
  node=$(node_name)
  write_args etcd "$ETCD_BIN/etcd" --name=gpuslice --data-dir="$STATE/etcd" \
    --listen-client-urls=http://127.0.0.1:2379 --advertise-client-urls=http://127.0.0.1:2379 \
    --listen-peer-urls=http://127.0.0.1:2380 --initial-advertise-peer-urls=http://127.0.0.1:2380 \
    --initial-cluster=gpuslice=http://127.0.0.1:2380 --listen-metrics-urls=http://127.0.0.1:2381 \
    --unsafe-no-fsync=true --log-level=warn
  write_args kube-apiserver "$K8S_BIN/kube-apiserver" \
    --etcd-servers=http://127.0.0.1:2379 --bind-address=0.0.0.0 --secure-port=6443 \
    --advertise-address="$ip" --allow-privileged=true \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
    --client-ca-file="$PKI/ca.crt" --tls-cert-file="$PKI/apiserver.crt" \
    --tls-private-key-file="$PKI/apiserver.key" \
    --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" \
    --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
    --service-cluster-ip-range="$SERVICE_CIDR" --profiling=false
  write_args kube-controller-manager "$K8S_BIN/kube-controller-manager" \
    --kubeconfig="$PKI/controller-manager.kubeconfig" \
    --authentication-kubeconfig="$PKI/controller-manager.kubeconfig" \
    --authorization-kubeconfig="$PKI/controller-manager.kubeconfig" \
    --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
    --use-service-account-credentials=true --cluster-signing-cert-file="$PKI/ca.crt" \
    --cluster-signing-key-file="$PKI/ca.key" --leader-elect=false --profiling=false \
    --bind-address=127.0.0.1 --secure-port=10257
  write_args kube-scheduler "$K8S_BIN/kube-scheduler" \
    --kubeconfig="$PKI/scheduler.kubeconfig" \
    --authentication-kubeconfig="$PKI/scheduler.kubeconfig" \
    --authorization-kubeconfig="$PKI/scheduler.kubeconfig" \
    --leader-elect=false --profiling=false --bind-address=127.0.0.1 --secure-port=10259
  write_args containerd "$CONTAINERD_BIN/containerd" --config="$STATE/containerd.toml"
  write_args kubelet "$K8S_BIN/kubelet" --config="$STATE/kubelet.yaml" \
    --kubeconfig="$PKI/kubelet.kubeconfig" --root-dir="$KUBELET_DIR" --node-ip="$ip" \
    --hostname-override="$node"
  write_args kube-proxy "$K8S_BIN/kube-proxy" --kubeconfig="$PKI/kube-proxy.kubeconfig" \
    --cluster-cidr="$POD_CIDR" --proxy-mode=iptables --hostname-override="$node" \
    --conntrack-max-per-core=0 --metrics-bind-address=127.0.0.1:10249 \
    --healthz-bind-address=127.0.0.1:10256
}

write_configs() {
  local restrict_oom=false
  # CAP_SYS_RESOURCE is bit 24 of the effective capability set.
  (( (0x$(sed -n 's/^CapEff:[[:space:]]*//p' /proc/self/status) >> 24) & 1 )) || restrict_oom=true
  mkdir -p "$STATE/cni/net.d" "$RUN_DIR/containerd" /etc/cdi /var/run/cdi
  cat >"$STATE/containerd.toml" <<TOML
version = 3
root = "$STATE/containerd"
state = "$RUN_DIR/containerd/state"

[grpc]
  address = "$CONTAINERD_SOCKET"

[plugins.'io.containerd.cri.v1.images'.pinned_images]
  sandbox = "$PAUSE_IMAGE"

[plugins.'io.containerd.cri.v1.runtime']
  # Pods' OOM scores may not go below containerd's own: a root without CAP_SYS_RESOURCE (a
  # container or a sandboxed VM) cannot lower them, and node-critical pods ask for -998.
  restrict_oom_score_adj = $restrict_oom
  enable_cdi = true
  cdi_spec_dirs = ["/etc/cdi", "/var/run/cdi"]

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
  BinaryName = "$(command -v runc)"
  SystemdCgroup = false

[plugins.'io.containerd.cri.v1.runtime'.cni]
  bin_dirs = ["$CNI_BIN_DIR"]
  conf_dir = "$STATE/cni/net.d"
TOML
  cat >"$STATE/cni/net.d/10-gpuslice.conflist" <<CNI
{
  "cniVersion": "1.0.0",
  "name": "gpuslice",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR"}]], "routes": [{"dst": "0.0.0.0/0"}]}
    },
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "loopback"}
  ]
}
CNI
  cat >"$STATE/kubelet.yaml" <<KUBELET
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $PKI/kubelet.crt
tlsPrivateKeyFile: $PKI/kubelet.key
containerRuntimeEndpoint: unix://$CONTAINERD_SOCKET
cgroupDriver: cgroupfs
# This machine has cgroup v1, which the kubelet refuses by default since v1.35.
failCgroupV1: false
failSwapOn: false
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
serializeImagePulls: false
# Images are loaded locally (there is no registry): never collect them, never evict for disk.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%"}
# Quick status updates keep the e2e suite's waits short.
nodeStatusUpdateFrequency: 4s
syncFrequency: 10s
KUBELET
}

cluster_healthy() {
  kubectl_admin get --raw /readyz >/dev/null 2>&1
}

node_ready() {
  kubectl_admin get node "$(node_name)" \
    -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null | grep -qx True
}

default_service_account() { kubectl_admin -n default get serviceaccount default; }

prepare_host() {
  sysctl -qw net.ipv4.ip_forward=1
  sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null || true
  mkdir -p "$KUBELET_DIR" "$RUN_DIR" "$LOGS"
  # The kubelet mounts volumes with propagation; a private root would hide them from runc.
  mount --make-rshared / 2>/dev/null || true
}

cmd_up() {
  require_root
  if [ -f "$RUN_DIR/up" ] && status_all >/dev/null 2>&1; then
    log "already up (scripts/cluster.sh status)"
    return 0
  fi
  local start=$SECONDS
  install_packages
  build_kubernetes
  build_etcd
  build_containerd
  build_pause_image
  prepare_host
  make_pki
  write_configs
  write_component_args
  log "starting etcd and the control plane"
  start_component etcd
  start_component kube-apiserver
  wait_for 120 "kube-apiserver to be ready" cluster_healthy
  start_component kube-controller-manager
  start_component kube-scheduler
  log "starting containerd, the kubelet and kube-proxy"
  start_component containerd
  wait_for 60 "containerd" test -S "$CONTAINERD_SOCKET"
  wait_for 60 "containerd to answer" ctr_k8s version
  # The images are loaded, never pulled: there is no registry.
  if ! ctr_k8s images check "name==$PAUSE_IMAGE" 2>/dev/null | grep -q "$PAUSE_IMAGE"; then
    ctr_k8s images import "$CACHE/images/pause.tar" >/dev/null 2>&1
  fi
  start_component kubelet
  start_component kube-proxy
  wait_for 180 "node $(node_name) to be Ready" node_ready
  wait_for 120 "the default service account" default_service_account
  touch "$RUN_DIR/up"
  log "up in $((SECONDS - start)) s: node $(node_name) is Ready; eval \"\$(scripts/cluster.sh env)\" to use it"
}

status_all() {
  local component failed=0
  for component in "${COMPONENTS[@]}"; do
    if is_running "$component"; then
      printf '%-24s running (pid %s)\n' "$component" "$(cat "$(pid_file "$component")")"
    else
      printf '%-24s stopped\n' "$component"
      failed=1
    fi
  done
  return "$failed"
}

cmd_status() {
  status_all || return 1
  node_ready || { echo "node $(node_name) is not Ready"; return 1; }
  echo "node $(node_name) is Ready"
}

# Unmounts everything below a directory, deepest first.
unmount_below() {
  local dir=$1
  awk -v dir="$dir" '$2 == dir || index($2, dir "/") == 1 {print $2}' /proc/mounts | sort -r |
    while read -r mountpoint; do umount -l "$mountpoint" 2>/dev/null || true; done
}

cmd_down() {
  require_root
  local i component
  for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do
    component=${COMPONENTS[i]}
    [ "$component" = containerd ] && remove_containers
    stop_component "$component"
  done
  # Shims keep containers alive after containerd stops; they are ours if they run our binary.
  pkill -KILL -f "^$CONTAINERD_BIN/containerd-shim" 2>/dev/null || true
  if [ -x "$K8S_BIN/kube-proxy" ]; then "$K8S_BIN/kube-proxy" --cleanup >/dev/null 2>&1 || true; fi
  remove_cni_nat_rules
  ip link delete "$BRIDGE" 2>/dev/null || true
  unmount_below "$KUBELET_DIR"
  unmount_below "$RUN_DIR"
  unmount_below "$STATE"
  unmount_below /run/netns
  rm -rf "$STATE" "$RUN_DIR" "$KUBELET_DIR" /var/lib/cni/networks/gpuslice /run/netns/cni-*
  log "down: every component stopped and the cluster's state removed"
}

# The bridge plugin's masquerading: POSTROUTING jumps to per-pod CNI-* chains.
remove_cni_nat_rules() {
  local rule chain
  iptables -t nat -S POSTROUTING 2>/dev/null | { grep -E '^-A POSTROUTING .* -j CNI-' || true; } |
    while read -r rule; do eval "iptables -t nat ${rule/-A/-D}" 2>/dev/null || true; done
  iptables -t nat -S 2>/dev/null | { grep -E '^-N CNI-' || true; } | while read -r _ chain; do
    iptables -t nat -F "$chain" 2>/dev/null || true
    iptables -t nat -X "$chain" 2>/dev/null || true
  done
}

# Stops every pod's containers while containerd still runs, so nothing keeps mounts busy.
remove_containers() {
  is_running containerd || return 0
  local task
  for task in $(ctr_k8s tasks list -q 2>/dev/null); do
    ctr_k8s tasks kill -s KILL "$task" >/dev/null 2>&1 || true
  done
  sleep 1
  for task in $(ctr_k8s tasks list -q 2>/dev/null); do
    ctr_k8s tasks delete -f "$task" >/dev/null 2>&1 || true
  done
  for task in $(ctr_k8s containers list -q 2>/dev/null); do
    ctr_k8s containers delete "$task" >/dev/null 2>&1 || true
  done
}

cmd_env() {
  cat <<ENV
export KUBECONFIG=$PKI/admin.kubeconfig
export PATH=$K8S_BIN:\$PATH
ENV
}

cmd_restart() {
  require_root
  local component=${1:-}
  local known=" ${COMPONENTS[*]} "
  [ -n "$component" ] && [[ "$known" == *" $component "* ]] ||
    die "restart: name one of: ${COMPONENTS[*]}"
  [ -f "$STATE/args/$component" ] || die "restart: the cluster was never started (scripts/cluster.sh up)"
  stop_component "$component"
  start_component "$component"
  case "$component" in
    kube-apiserver) wait_for 120 "kube-apiserver to be ready" cluster_healthy ;;
    containerd) wait_for 60 "containerd to answer" ctr_k8s version ;;
    kubelet) wait_for 120 "node $(node_name) to be Ready" node_ready ;;
  esac
  log "restarted $component"
}

cmd_logs() {
  local component=${1:-}
  [ -f "$LOGS/$component.log" ] || die "logs: no log for '$component' (one of: ${COMPONENTS[*]} image-build)"
  cat "$LOGS/$component.log"
}

main() {
  local command=${1:-help}
  [ "$#" -gt 0 ] && shift
  case "$command" in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    env) cmd_env ;;
    image) require_root; build_image ;;
    load) require_root; [ "$#" -eq 1 ] || die "usage: scripts/cluster.sh load IMAGE.tar"; load_archive "$1" ;;
    restart) cmd_restart "$@" ;;
    logs) cmd_logs "$@" ;;
    help|-h|--help) usage ;;
    *) usage >&2; exit 2 ;;
  esac
}

main "$@"
