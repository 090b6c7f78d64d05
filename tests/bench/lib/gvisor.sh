# shellcheck shell=bash disable=SC2034,SC2154 # sourced: the caller uses GV, gv_state, have_gv; it defines tmp, gv_files, gv_argv
# gVisor helpers for the benchmarks that measure gVisor restore beside catalyzer (sourced after
# bench_common.sh): a private runsc --root, an OCI bundle holding just a function's files, and
# a `runsc checkpoint` taken once the function blocks reading its request (after its init).
# The sourcing script defines gv_files[CASE] (HOST=GUEST pairs) and gv_argv[CASE], SEP-separated,
# and split (SEP-split into SPLIT); it calls gv_probe_root before anything else here.

gv_state=$tmp/gvisor-state
GV=(runsc --network=none --platform=ptrace --root "$gv_state")
have_gv=0

# gv_probe_root: have_gv=1 when the bundle paths (run, checkpoint, restore) can run; else a
# skip_optional line saying why. runsc restore refuses --rootless ("Rootless mode not supported
# with \"restore\""), so they run runsc as root, in the private --root state dir.
gv_probe_root() {
  if ((EUID != 0)); then
    skip_optional "runsc-run, gv-restore: runsc restore needs root (runsc: Rootless mode not supported with \"restore\"), this runs as uid $EUID"
  else
    have_gv=1
    mkdir -p "$gv_state"
  fi
}

# Containers left behind by an interrupted run (only ours: they live in our private --root).
gv_cleanup() {
  [[ -d $gv_state ]] || return 0
  local id
  for id in $(runsc --root "$gv_state" list -quiet 2>/dev/null); do
    runsc --root "$gv_state" kill "$id" KILL >/dev/null 2>&1 || true
    runsc --root "$gv_state" delete -force "$id" >/dev/null 2>&1 || true
  done
}
bench_cleanup_hooks+=(gv_cleanup)

# gv_bundle CASE DIR: an OCI bundle in DIR whose rootfs holds just the function's files.
gv_bundle() {
  local c=$1 dir=$2 pair host guest
  mkdir -p "$dir/rootfs"
  split "${gv_files[$c]}"
  for pair in "${SPLIT[@]}"; do
    host=${pair%%=*} guest=${pair#*=}
    mkdir -p "$dir/rootfs$(dirname "$guest")"
    cp "$host" "$dir/rootfs$guest"
  done
  split "${gv_argv[$c]}"
  (cd "$dir" && runsc spec -- "${SPLIT[@]}") || return 1
  # An empty environment like the other paths, a read-only root, no terminal.
  jq --arg root "$dir/rootfs" '.process.env = [] | .process.terminal = false
      | .root = {path: $root, readonly: true}' "$dir/config.json" >"$dir/config.json.new" &&
    mv "$dir/config.json.new" "$dir/config.json"
}

# tree_cpu PID: CPU ticks (utime+stime) used so far by PID and all its descendants.
tree_cpu() {
  local total=0 p stat
  local -a todo=("$1")
  while ((${#todo[@]})); do
    p=${todo[0]}
    todo=("${todo[@]:1}")
    stat=$(cat "/proc/$p/stat" 2>/dev/null) || continue
    stat=${stat##*) }   # fields after "(comm) "; utime/stime are fields 14/15 = 12/13 here
    read -r -a f <<<"$stat"
    total=$((total + f[11] + f[12]))
    # shellcheck disable=SC2207
    todo+=($(cat /proc/"$p"/task/*/children 2>/dev/null))
  done
  echo "$total"
}

# gv_checkpoint CASE: starts the function in a gVisor container with stdin a FIFO held open
# (no request yet), waits until the container's process tree has used no CPU for 0.5 s (the
# function is blocked reading its request: init is done), then `runsc checkpoint`s it into
# $tmp/gv-$CASE/image. Sets GV_FAIL to a reason on failure.
gv_checkpoint() {
  local c=$1 dir=$tmp/gv-$1 id="catbench-$$-$1-ckpt"
  GV_FAIL=
  gv_bundle "$c" "$dir/bundle" >"$dir.bundle.log" 2>&1 || {
    GV_FAIL="could not make the OCI bundle ($(first_line "$dir.bundle.log"))"
    return
  }
  mkdir -p "$dir/image"
  mkfifo "$dir/stdin"
  "${GV[@]}" run --bundle "$dir/bundle" "$id" <"$dir/stdin" >"$dir/ckpt-run.out" 2>"$dir/ckpt-run.err" &
  local runpid=$!
  exec {hold}>"$dir/stdin" # the writer end stays open: the function blocks in read(0)
  local deadline=$((SECONDS + RUN_TIMEOUT)) last=-1 now still=0 pid=""
  while ((SECONDS < deadline)); do
    sleep 0.1
    if ! kill -0 "$runpid" 2>/dev/null; then
      GV_FAIL="'runsc run' exited before checkpoint ($(first_line "$dir/ckpt-run.err"))"
      break
    fi
    [[ -n $pid ]] || pid=$("${GV[@]}" state "$id" 2>/dev/null | jq -r '.pid // empty' 2>/dev/null || true)
    [[ -n $pid && $pid != 0 ]] || continue
    now=$(tree_cpu "$pid")
    if ((now == last)); then still=$((still + 1)); else still=0; fi
    last=$now
    ((still < 5)) || break
  done
  if [[ -z $GV_FAIL ]] && ((still < 5)); then
    GV_FAIL="the function did not go idle (block reading its request) within $RUN_TIMEOUT s"
  fi
  if [[ -z $GV_FAIL ]]; then
    if [[ -s $dir/ckpt-run.out ]]; then
      note "$c: gVisor: the function wrote to stdout before its request: $(head -c 80 "$dir/ckpt-run.out")"
    fi
    if ! timeout 120 "${GV[@]}" checkpoint --image-path "$dir/image" "$id" >"$dir/ckpt.out" 2>"$dir/ckpt.err"; then
      GV_FAIL="'runsc checkpoint' failed ($(first_line "$dir/ckpt.err"))"
    fi
  fi
  exec {hold}>&-
  if [[ -n $GV_FAIL ]]; then
    "${GV[@]}" kill "$id" KILL >/dev/null 2>&1 || true
  fi
  # The checkpointed container exits; reap `runsc run` (bounded: a stuck one is killed).
  local i
  for ((i = 0; i < 100; i++)); do kill -0 "$runpid" 2>/dev/null || break; sleep 0.1; done
  kill "$runpid" 2>/dev/null || true
  wait "$runpid" 2>/dev/null || true
  "${GV[@]}" delete -force "$id" >/dev/null 2>&1 || true
}
