#!/usr/bin/env bash
# oci_runtime: catload-oci under the real engines, on loopback (spec/oci.md, "Runtime"). A private
# containerd, docker-registry and podman storage; the Lua and SQLite fixtures captured, packed
# (`catimg pack`), pushed with skopeo, pulled by containerd (--plain-http) and by podman, and run
# with `ctr run --runc-binary catload-oci` and `podman --runtime catload-oci`, several requests
# each: stdout and exit code equal native. Also a busybox image from scratch, kill, delete, a
# non-zero exit, a guest past its memory limit, a malformed func-image (the error in ctr's and
# podman's output), the snapshot cache (second run cold-boots the captured image), and the
# verbs state/ps/delete/exec/features directly.
source "$(dirname "$0")/lib/common.sh"
source "$(dirname "$0")/lib/engines.sh"

((EUID == 0)) || e2e_skip "containerd and podman need root here (uid $EUID)"
missing=$(have_engine_tools containerd ctr podman conmon skopeo umoci docker-registry curl python3) ||
  e2e_skip "$missing is not installed (scripts/setup-deps.sh installs it)"
e2e_require_images
OCI=$(dirname "$CATLOAD")/catload-oci
[[ -x $OCI ]] || e2e_setup_fail "catload-oci not found next to catload ($OCI)"
for f in lua_fn function.lua sqlite_fn hostile; do
  [[ -e $FIXTURES/$f ]] || e2e_setup_fail "fixture $f not built"
done
e2e_tmpdir
T=$E2E_TMP
ENG_DIR=$T/eng
mkdir -p "$ENG_DIR"
trap 'stop_engines; [[ ${E2E_KEEP:-0} == 1 ]] || rm -rf "$T"' EXIT
SECONDS=0
ok_if() { if [[ $1 == 0 ]]; then e2e_pass "$2 [${SECONDS}s]"; else e2e_fail "$2" "${3:-}"; fi; }
W=30 # seconds one container may take

start_containerd || e2e_setup_fail "containerd did not answer within ${ENG_WAIT}s"
start_registry || e2e_setup_fail "docker-registry did not answer within ${ENG_WAIT}s"
podman_init
REG=127.0.0.1:$REG_PORT
RUNC=(--runc-binary "$OCI" --runc-root "$T/oci-root")

# run_ctr ID REQUEST [ctr run options] IMAGE [-- ARGS]: ctr run, the request written once the task
# runs (ctr 1.6 loses an EOF that comes before its task exists: it would never reach the
# container), or not at all when ctr ends first (a create that fails: no waiting for a task
# that never comes). ctr reads a fifo we hold open until then. Output in $T/ID.out, .err; exit
# code in $rc.
run_ctr() {
  local id=$1 req=$2 opts=() args=() fd pid
  shift 2
  while (($#)) && [[ $1 != -- ]]; do opts+=("$1"); shift; done
  (($#)) && shift && args=("$@")
  set -- "${opts[@]}" "$id" "${args[@]}"
  mkfifo "$T/$id.in"
  { timeout -k 5 "$W" ctr -a "$CTD_SOCK" -n catalyzer run --rm "${RUNC[@]}" "$@" <"$T/$id.in" \
      >"$T/$id.out" 2>"$T/$id.err"
    echo $? >"$T/$id.rc"; } &
  pid=$!
  exec {fd}>"$T/$id.in"
  wait_for "$W" bash -c "ctr -a '$CTD_SOCK' -n catalyzer task ls | grep -q '^$id .*RUNNING' || [[ -e $T/$id.rc ]]"
  # In a subshell: a ctr already gone would make the write a SIGPIPE.
  [[ -e $T/$id.rc ]] || (printf '%s' "$req" >&"$fd") 2>/dev/null
  exec {fd}>&-
  wait "$pid"
  rc=$(cat "$T/$id.rc")
}
run_podman() {
  local id=$1 req=$2
  shift 2
  printf '%s' "$req" | timeout -k 5 "$W" "${PODMAN[@]}" --runtime "$OCI" run --rm -i "${podman_run_flags[@]}" "$@" \
    >"$T/$id.out" 2>"$T/$id.err"
  rc=$?
}

# --- images: busybox (from scratch), hostile (its request mode), Lua and SQLite (packed) ---
mkdir -p "$T/bb/bin" "$T/hostile" "$T/lua/fn"
cp /usr/bin/busybox "$T/bb/bin/" 2>/dev/null || cp "$(command -v busybox)" "$T/bb/bin/busybox"
for n in sh cat sleep echo; do ln -s busybox "$T/bb/bin/$n"; done
cp "$FIXTURES/hostile" "$T/hostile/"
cp "$FIXTURES/lua_fn" "$FIXTURES/function.lua" "$T/lua/fn/"
oci_layout_from_dir "$T/layout" bb "$T/bb" /bin/sh >/dev/null &&
  oci_layout_from_dir "$T/layout" hostile "$T/hostile" /hostile request >/dev/null &&
  oci_layout_from_dir "$T/layout" luaplain "$T/lua" /fn/lua_fn /fn/function.lua >/dev/null ||
  e2e_setup_fail "umoci could not make the test images"
(cd "$T/lua" && "$CATIMG" build -q --rootfs . -o "$T/lua.cfi" -- ./fn/lua_fn /fn/function.lua </dev/null) &&
  "$CATIMG" build -q -o "$T/sqlite.cfi" -- "$FIXTURES/sqlite_fn" </dev/null ||
  e2e_setup_fail "catimg build of the Lua or SQLite fixture failed"
for fn in lua sqlite; do
  "$CATIMG" pack -q "$T/$fn.cfi" -o "oci:$T/layout:$fn" &&
    skopeo copy -q --dest-tls-verify=false "oci:$T/layout:$fn" "docker://$REG/$fn:1" ||
    e2e_setup_fail "pack or push of $fn failed"
done
for t in bb hostile luaplain; do
  skopeo copy -q --dest-tls-verify=false "oci:$T/layout:$t" "docker://$REG/$t:1" || e2e_setup_fail "push $t"
done
for t in bb hostile luaplain lua sqlite; do
  timeout 60 ctr -a "$CTD_SOCK" -n catalyzer images pull -q --plain-http "$REG/$t:1" >/dev/null &&
    timeout 60 "${PODMAN[@]}" pull -q --tls-verify=false "$REG/$t:1" >/dev/null ||
    e2e_setup_fail "pull $t from the local registry"
done
e2e_pass "fixtures packed, pushed with skopeo to $REG, pulled by containerd and podman"

# --- ctr run of a static program image from scratch ---
run_ctr bb1 "" "$REG/bb:1" -- /bin/sh -c 'echo out; echo err >&2; exit 3'
[[ $rc == 3 && $(cat "$T/bb1.out") == out ]] && grep -q '^err$' "$T/bb1.err"
ok_if $? "ctr run busybox sh: stdout, stderr and exit code 3" "rc=$rc out=$(head -c 200 "$T/bb1.out")"
run_ctr bb2 $'line one\nline two\n' "$REG/bb:1" -- /bin/cat
[[ $rc == 0 && $(cat "$T/bb2.out") == $'line one\nline two' ]]
ok_if $? "ctr run busybox cat: stdin reaches the container, EOF included" "rc=$rc"

# --- the packed functions, several requests, against native ---
native_lua() { (cd "$T/lua" && printf "%s" "$1" | ./fn/lua_fn fn/function.lua); }
native_sqlite() { printf '%s' "$1" | "$FIXTURES/sqlite_fn"; }
# against_native NAME REQUEST...: each request through ctr run and podman run of the packed
# image $REG/NAME:1; stdout and exit code must equal native_NAME's.
against_native() {
  local name=$1 req want wrc i=0
  shift
  for req in "$@"; do
    i=$((i + 1))
    want=$(native_$name "$req")
    wrc=$?
    run_ctr $name$i "$req" "$REG/$name:1"
    [[ $rc == "$wrc" && $(cat "$T/$name$i.out") == "$want" ]]
    ok_if $? "ctr run $name request $i: same stdout and exit code ($wrc) as native" "rc=$rc"
    run_podman p$name$i "$req" "$REG/$name:1"
    [[ $rc == "$wrc" && $(cat "$T/p$name$i.out") == "$want" ]]
    ok_if $? "podman run $name request $i: same stdout and exit code ($wrc) as native" "rc=$rc $(tail -2 "$T/p$name$i.err")"
  done
}
against_native lua $'prime 97\n' $'nth 1000\nword w123\n' $'hello\n'
against_native sqlite $'sum 2 3\nrows\n' $'count a\ntop 3\n' $'get 7\nexit 3\n'

# --- a guest past its memory limit, a crash: what runc users see (137 as an OOM kill, 139) ---
run_ctr mem1 $'memory\n' --memory-limit 134217728 "$REG/hostile:1"
[[ $rc == 137 ]] && grep -q "memory limit (134217728 bytes)" "$T/mem1.err"
ok_if $? "ctr run past --memory-limit: exit 137 and the reason on ctr's stderr" "rc=$rc $(tail -1 "$T/mem1.err")"
run_podman pmem1 $'memory\n' --memory 128m "$REG/hostile:1"
[[ $rc == 137 ]] && grep -q "memory limit" "$T/pmem1.err"
ok_if $? "podman run past --memory: exit 137 and the reason on podman's stderr" "rc=$rc"
run_ctr segv1 $'segv\n' "$REG/hostile:1"
[[ $rc == 139 ]]
ok_if $? "ctr run of a guest that crashes: exit 139 (128+SIGSEGV)" "rc=$rc"
run_ctr loop1 $'loop\n' --annotation dev.catalyzer.timeout=1 "$REG/hostile:1"
[[ $rc == 124 ]] && grep -q "timed out" "$T/loop1.err"
ok_if $? "ctr run past dev.catalyzer.timeout: exit 124 and the reason on ctr's stderr" "rc=$rc $(tail -1 "$T/loop1.err")"

# --- a malformed func-image: create fails, the error in the engine's output ---
mkdir -p "$T/bad/.catalyzer"
head -c 65536 "$T/lua.cfi" >"$T/bad/.catalyzer/function.cfi"
printf 'XXXXXXXX' | dd of="$T/bad/.catalyzer/function.cfi" bs=1 seek=64 conv=notrunc status=none
oci_layout_from_dir "$T/layout" bad "$T/bad" /x >/dev/null &&
  skopeo copy -q --dest-tls-verify=false "oci:$T/layout:bad" "docker://$REG/bad:1" &&
  ctr -a "$CTD_SOCK" -n catalyzer images pull -q --plain-http "$REG/bad:1" >/dev/null &&
  "${PODMAN[@]}" pull -q --tls-verify=false "$REG/bad:1" >/dev/null || e2e_setup_fail "bad image"
run_ctr bad1 "" --annotation dev.catalyzer.func-image=/.catalyzer/function.cfi "$REG/bad:1"
[[ $rc != 0 ]] && grep -q "OCI runtime create failed: open the func-image" "$T/bad1.err"
ok_if $? "ctr run of a malformed func-image: create fails, ctr shows why" "rc=$rc $(head -c 300 "$T/bad1.err")"
run_podman pbad1 "" --annotation dev.catalyzer.func-image=/.catalyzer/function.cfi "$REG/bad:1"
[[ $rc != 0 ]] && grep -q "open the func-image" "$T/pbad1.err"
ok_if $? "podman run of a malformed func-image: fails, podman shows why" "rc=$rc"

# --- kill: ctr task kill (SIGTERM) ends the container, 143; podman stop the same ---
timeout "$W" ctr -a "$CTD_SOCK" -n catalyzer run -d "${RUNC[@]}" "$REG/bb:1" k1 /bin/sleep 100 >/dev/null
wait_for "$W" bash -c "ctr -a '$CTD_SOCK' -n catalyzer task ls | grep -q '^k1 .*RUNNING'"
ctrx task kill k1
wait_for "$W" bash -c "ctr -a '$CTD_SOCK' -n catalyzer task ls | grep -q '^k1 .*STOPPED'"
st=$(ctrx task delete k1 2>&1)
ctrx container rm k1 >/dev/null 2>&1
[[ $st == *"exit code 143"* ]]
ok_if $? "ctr task kill: the container stops with 143 (128+SIGTERM)" "$st"
timeout "$W" "${PODMAN[@]}" --runtime "$OCI" run -d --name k2 "${podman_run_flags[@]}" "$REG/bb:1" /bin/sleep 100 >/dev/null
timeout "$W" "${PODMAN[@]}" --runtime "$OCI" stop -t 5 k2 >/dev/null
st=$("${PODMAN[@]}" ps -a --filter name=k2 --format '{{.Status}}')
timeout "$W" "${PODMAN[@]}" --runtime "$OCI" rm k2 >/dev/null
[[ $st == "Exited (143)"* ]]
ok_if $? "podman stop: Exited (143), rm removes it" "$st"

# --- snapshot cache: the first container captures at func-entry, the next cold-boot from it ---
req=$'prime 1000003\n'
want=$(native_lua "$req")
run_ctr c1 "$req" --annotation dev.catalyzer.snapshot=cache "$REG/luaplain:1"
rc1=$rc
snap=$(ls "$T"/oci-root/catalyzer/snapshots/*.cfi 2>/dev/null)
stamp=$(stat -c %Y.%i "$snap" 2>/dev/null)
run_ctr c2 "$req" --annotation dev.catalyzer.snapshot=cache "$REG/luaplain:1"
[[ $rc1 == 0 && $rc == 0 && $(cat "$T/c1.out") == "$want" && $(cat "$T/c2.out") == "$want" && -n $snap &&
  $(stat -c %Y.%i "$snap") == "$stamp" && $(ls "$T"/oci-root/catalyzer/snapshots | wc -l) == 1 ]]
ok_if $? "snapshot cache: one image captured by the first container, the second boots from it, answers as native" "rc=$rc1/$rc snap=$snap"
run_ctr c3 "$req" --annotation dev.catalyzer.snapshot=cache --env EXTRA=1 "$REG/luaplain:1"
[[ $rc == 0 && $(ls "$T"/oci-root/catalyzer/snapshots/*.cfi | wc -l) == 2 ]]
ok_if $? "snapshot cache: another env is another key (a second image)" "rc=$rc"

# --- the verbs directly: state, ps, delete refused while running, --force, exec refused ---
B=$T/bundle
mkdir -p "$B"
ln -s "$T/bb" "$B/rootfs"
python3 - "$B/config.json" <<'PY'
import json, sys
json.dump({"ociVersion": "1.0.2", "root": {"path": "rootfs"},
           "process": {"args": ["/bin/sleep", "100"], "env": ["PATH=/bin"], "cwd": "/"},
           "linux": {"namespaces": [{"type": "pid"}]}}, open(sys.argv[1], "w"))
PY
O=("$OCI" --root "$T/direct" --log "$T/direct.log" --log-format json)
"${O[@]}" create --bundle "$B" --pid-file "$T/d.pid" d1 </dev/null >/dev/null 2>&1 &
create_pid=$!
wait $create_pid
crc=$?
s1=$("${O[@]}" state d1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')
"${O[@]}" start d1
s2=$("${O[@]}" state d1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')
pids=$("${O[@]}" ps --format json d1)
[[ $crc == 0 && $s1 == created && $s2 == running && $pids == "[$(cat "$T/d.pid"),"* ]]
ok_if $? "create leaves a created instance (pid file), start runs it, state and ps say so" "$crc $s1 $s2 $pids"
"${O[@]}" delete d1 2>/dev/null
drc=$?
tail -1 "$T/direct.log" | grep -q '"level":"error","msg":"cannot delete container d1 that is not stopped'
ok_if $(( drc == 0 || $? )) "delete of a running container is refused with a json error line in --log"
"${O[@]}" exec --process /dev/null --detach --pid-file "$T/e.pid" d1 2>/dev/null
erc=$?
tail -1 "$T/direct.log" | grep -q 'exec is not supported'
ok_if $(( erc == 0 || $? )) "exec is refused with a clear error"
grep -q '"level":"info","msg":"linux.namespaces ignored' "$T/direct.log"
ok_if $? "an ignored OCI feature (namespaces) is logged, not silent"
"${O[@]}" delete --force d1
frc=$?
kill -0 "$(cat "$T/d.pid")" 2>/dev/null && ! grep -q zombie <(ps -o stat= -p "$(cat "$T/d.pid")" | sed 's/Z/zombie/')
alive=$?
[[ $frc == 0 && ! -e $T/direct/d1 ]]
ok_if $? "delete --force kills the instance and removes its state" "rc=$frc alive=$alive"
"$OCI" features | python3 -c 'import json,sys; j=json.load(sys.stdin); assert j["ociVersionMax"] and j["hooks"] == []'
ok_if $? "features prints the runtime-spec features JSON"

e2e_finish
