# shellcheck shell=bash
# Container engines for the catload-oci tests and benchmark (sourced after common.sh, or by the
# benchmark on its own): a private containerd, a private docker-registry on a random loopback
# port, and podman with private storage. Each start_* records the pids it started; stop_engines
# stops exactly those (by pid, bounded waits), and the shims our containerd started (found by
# its private socket in their command line). Every wait is bounded.
#
# Needs: $ENG_DIR (a private scratch directory).

ENG_PIDS=()
CTD_SOCK=
REG_PORT=
ENG_WAIT=${ENG_WAIT:-20}  # seconds any engine may take to answer

have_engine_tools() {
  local t
  for t in "$@"; do command -v "$t" >/dev/null 2>&1 || {
    echo "$t"
    return 1
  }; done
}

# A loopback port nothing listens on now.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_for SECONDS CMD...: retries CMD every 50 ms until it succeeds or the time is up.
wait_for() {
  local limit=$1 t=0
  shift
  until "$@" >/dev/null 2>&1; do
    sleep 0.05
    t=$((t + 1))
    ((t < limit * 20)) || return 1
  done
}

start_containerd() {
  local d=$ENG_DIR/containerd
  mkdir -p "$d"
  CTD_SOCK=$d/c.sock
  cat >"$d/config.toml" <<EOF
version = 2
root = "$d/root"
state = "$d/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$CTD_SOCK"
[ttrpc]
  address = "$d/t.sock"
[debug]
  address = "$d/d.sock"
[metrics]
  address = ""
EOF
  containerd --config "$d/config.toml" >"$d/log" 2>&1 &
  ENG_PIDS+=($!)
  CTD_PID=$!
  wait_for "$ENG_WAIT" ctr -a "$CTD_SOCK" version || {
    tail -5 "$d/log"
    return 1
  }
}

# ctr against our containerd, in our namespace.
ctrx() { ctr -a "$CTD_SOCK" -n catalyzer "$@"; }

start_registry() {
  local d=$ENG_DIR/registry
  mkdir -p "$d"
  REG_PORT=$(free_port)
  cat >"$d/config.yml" <<EOF
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $d/data
http:
  addr: 127.0.0.1:$REG_PORT
EOF
  docker-registry serve "$d/config.yml" >"$d/log" 2>&1 &
  ENG_PIDS+=($!)
  wait_for "$ENG_WAIT" curl -sf "http://127.0.0.1:$REG_PORT/v2/" || {
    tail -5 "$d/log"
    return 1
  }
}

# podman with private storage and no network, no pulls: what works in this kind of machine.
# (an array, so that `timeout` can run it).
podman_init() {
  mkdir -p "$ENG_DIR/podman/tmp"
  PODMAN=(podman --root "$ENG_DIR/podman/root" --runroot "$ENG_DIR/podman/run" --storage-driver vfs
    --cgroup-manager cgroupfs --events-backend none --tmpdir "$ENG_DIR/podman/tmp")
}
podman_run_flags=(--network none --pull never --ulimit nofile=1024:1024 --ulimit nproc=4096:4096)

stop_engines() {
  local p pid
  # The shims our containerd started (they outlive it by design): ours by their -address.
  if [[ -n $CTD_SOCK ]]; then
    for p in /proc/[0-9]*; do
      grep -qa -- "$CTD_SOCK" "$p/cmdline" 2>/dev/null && [[ $(tr '\0' ' ' <"$p/cmdline") == *containerd-shim* ]] &&
        ENG_PIDS+=("${p#/proc/}")
    done
  fi
  for pid in "${ENG_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${ENG_PIDS[@]}"; do
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  ENG_PIDS=()
}

# An OCI layout DIR:TAG of a plain rootfs directory ROOTFS with CMD as its command (umoci).
oci_layout_from_dir() {
  local layout=$1 tag=$2 rootfs=$3 a
  local bundle=$ENG_DIR/umoci-bundle-$tag
  shift 3
  [[ -d $layout ]] || umoci init --layout "$layout" || return 1
  umoci new --image "$layout:$tag" || return 1
  umoci unpack --image "$layout:$tag" "$bundle" >/dev/null || return 1
  cp -a "$rootfs/." "$bundle/rootfs/" || return 1
  umoci repack --image "$layout:$tag" "$bundle" || return 1
  local args=()
  for a in "$@"; do args+=(--config.cmd "$a"); done
  umoci config --image "$layout:$tag" "${args[@]}" || return 1
  rm -rf "$bundle"
}
