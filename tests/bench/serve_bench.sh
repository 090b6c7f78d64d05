#!/usr/bin/env bash
# serve_bench.sh: hello, Lua (fixtures/lua_fn) and CPython (fixtures/python_fn) served by
# `catload serve`, from one run: latency per boot mode, native baselines, throughput with wrk
# on 1 and 2 cores, memory of 1/10/100 live Lua instances, gVisor restore for reference, and
# the issue's targets (issue 8) checked against the figures measured here.
#
# What is measured, per function:
#   serve:MODE     POST /invoke/NAME?boot=MODE (cold, warm, fork) through one `catload serve`
#                  per function, with its defaults: warm and fork instances booted ahead of
#                  the request (--ready 1, spec/serve.md "Ready instances").
#   serve-path:MODE  the same through a second server with --ready 0: every warm and fork
#                  instance booted on the request's path. Boot latency: the X-Catalyzer-Boot-Latency-Us header
#                  (admission -> first guest instruction, spec/serve.md). End to end: curl's
#                  time_total (request sent on a kept-alive connection -> complete answer). A
#                  mode the server answers 501 for (not available in it) becomes a note.
#                  The server runs with its default --isolation unless BENCH_ISOLATION is set.
#   run:MODE       where serve does not offer MODE: `catload run --boot MODE --repeat K
#                  --stats=json`, the same boot in one catload process (boot latency and guest
#                  run from --stats=json; no HTTP, so no end-to-end figure).
#   native         the program itself, init included, request on stdin (spawn_timer).
#                  python_fn's handler.py ends with its output flushed and os._exit (no
#                  interpreter teardown after the answer): the native runs run that same file.
#   native-req     the native request-only time: an already-initialized native process, blocked
#                  reading its request, is given it; time from the write to its exit
#                  (request_timer, tests/bench/request_timer.cc).
#   gv-restore     `runsc restore` of a `runsc checkpoint` taken once the function blocked
#                  reading its request (lib/gvisor.sh, as boot_bench.sh): hello and lua_fn.
# Serve runs are interleaved: each repetition sends one request per function and mode, so drift
# in machine load hits all alike; native runs are interleaved the same way. Figures are p50 and
# p99 with min..max over this run's samples; ratios are ratios of figures from this run. Each
# serve series also says how many of its answers came from an instance booted ahead
# (X-Catalyzer-Booted-Ahead) and the median of each boot stage (X-Catalyzer-Boot-Stages),
# over all its answers and over those booted ahead.
#
# Throughput: `wrk` (POST, tests/bench/serve_post.lua) against hello with boot=fork, warm (and
# cold, for reference), the server pinned with taskset to CPU 0, then to CPUs 0-1 (wrk itself
# is not pinned: it shares the machine, as a real client on the same host would).
#
# Memory: N live forked Lua instances (N = 1, 10, 100) held by one `catload serve`: one worker
# keeping N fork instances of lua_fn booted ahead of their request (--ready N), with the
# working set pre-copied (--prefault recorded, the default) and without (--prefault none).
# Once the server's tree has used no CPU for 0.5 s, PSS (/proc/PID/smaps_rollup) is summed over
# every shell the server holds (the template, the N instances, the zygote pool's few) and over
# those plus the server. The target compares the sum for 100 with twice that for 1, counting
# the server with its shells: what a host spends to hold the instances (the shells alone hold,
# for N = 1, only that instance's pre-copied pages, so their ratio is printed for information).
#
# Output: the tables on stdout, and in the results dir (BENCH_RESULTS, default
# $BUILD_DIR/bench/serve): samples.tsv (every sample), summary.txt (the tables), serve_bench.png
# (latency distribution per boot mode and function; python3-matplotlib).
#
# Options: --quick (or BENCH_QUICK=1): a smoke run, few samples, the figures mean nothing.
# Environment: CATLOAD, CATIMG, FIXTURES, SOURCE_DIR, BUILD_DIR (as boot_bench.sh);
#   BENCH_REPS serve repetitions (default 200; 5 quick), BENCH_NATIVE_REPS (11; 2),
#   BENCH_WRK_SECONDS (5; 1), BENCH_MEMORY_COUNTS ("1 10 100"), BENCH_RUNSC=0 leaves gVisor out,
#   BENCH_RESULTS, BENCH_KEEP=1, BENCH_STRICT=1 (a measurement of ours that cannot run fails).
for arg in "$@"; do
  case $arg in
    --quick) export BENCH_QUICK=1 ;;
    -h | --help)
      sed -n '2,/^[^#]/p' "$0" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "serve_bench.sh: unknown argument '$arg' (--quick, --help)" >&2
      exit 2
      ;;
  esac
done
# shellcheck source=lib/bench_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/bench_common.sh"
# shellcheck source=lib/gvisor.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/gvisor.sh"
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REQUEST_TIMER=${REQUEST_TIMER:-$BUILD_DIR/tests/bench/request_timer}
RESULTS=${BENCH_RESULTS:-$BUILD_DIR/bench/serve}
STDLIB=/usr/lib/python3.11
SEP=$'\x1f'

if [[ $QUICK == 1 ]]; then
  REPS=${BENCH_REPS:-5} NREPS=${BENCH_NATIVE_REPS:-2} WRK_S=${BENCH_WRK_SECONDS:-1}
else
  REPS=${BENCH_REPS:-200} NREPS=${BENCH_NATIVE_REPS:-11} WRK_S=${BENCH_WRK_SECONDS:-5}
fi
MEM_COUNTS=${BENCH_MEMORY_COUNTS:-1 10 100}
for v in "$REPS" "$NREPS" "$WRK_S"; do [[ $v =~ ^[1-9][0-9]*$ ]] || die "repetition counts and seconds must be positive integers, got '$v'"; done
MODES=(cold warm fork)

bench_banner "catload serve: boot and end-to-end latency, throughput, memory"
commit=$(git -C "$SOURCE_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)
cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
echo "commit $commit; cpu: $cpu_model; serve reps=$REPS native reps=$NREPS wrk=${WRK_S}s"
# The machine is shared: its load when the run starts and ends says how far to trust the run.
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
echo "load average at start: $LOAD_START"

snapshot_tools
[[ $SNAP_OK == 1 ]] || die "$SNAP_WHY"
# Debian's python3 (python3-matplotlib is for it), not whichever python3 PATH finds first.
PYTHON=${BENCH_PYTHON:-/usr/bin/python3}
[[ -x $PYTHON ]] || PYTHON=python3
for tool in jq curl "$PYTHON"; do command -v "$tool" >/dev/null || die "$tool is missing (scripts/setup-deps.sh)"; done
catload_has serve || die "'catload serve --help' fails: catload has no serve subcommand"
# The server's --isolation (spec/serve.md): its default unless BENCH_ISOLATION names one
# (process: a catload child per invocation; in-process: no child, measured 9x slower per boot
# here on 2026-12-01, see README "Serving").
ISOLATION=${BENCH_ISOLATION:-}
serve_opts=()
[[ -n $ISOLATION ]] && serve_opts+=(--isolation "$ISOLATION")
echo "serve ${serve_opts[*]:-(default isolation)}"
echo
mkdir -p "$RESULTS"
SAMPLES=$tmp/samples.tsv
: >"$SAMPLES"
# sample FUNCTION SERIES METRIC VALUE: one measurement (µs, inv/s or KiB by METRIC).
sample() { printf '%s\t%s\t%s\t%s\n' "$@" >>"$SAMPLES"; }

# ---- the functions -------------------------------------------------------------------------

# Per function: native argv, capture options, guest argv, the server's host bindings, the
# request (SEP-separated lists).
declare -A native_argv cap_opts guest_argv bind_opts request gv_files gv_argv
cases=()
add_case() {
  cases+=("$1")
  native_argv[$1]=$2 cap_opts[$1]=$3 guest_argv[$1]=$4 bind_opts[$1]=$5 request[$1]=$6
}
split() { IFS=$SEP read -r -a SPLIT <<<"$1"; }
if [[ -x $FIXTURES/hello ]]; then
  add_case hello "$FIXTURES/hello" "" "$FIXTURES/hello" "" "world"
  gv_files[hello]="$FIXTURES/hello=/fn/hello" gv_argv[hello]=/fn/hello
else
  skip "hello: $FIXTURES/hello not built"
fi
if [[ -x $FIXTURES/lua_fn && -r $FIXTURES/function.lua ]]; then
  add_case lua_fn "$FIXTURES/lua_fn${SEP}$FIXTURES/function.lua" "--mount${SEP}$FIXTURES:/fn:ro" \
    "$FIXTURES/lua_fn${SEP}/fn/function.lua" "--mount${SEP}$FIXTURES:/fn:ro" "prime 1999993"
  gv_files[lua_fn]="$FIXTURES/lua_fn=/fn/lua_fn${SEP}$FIXTURES/function.lua=/fn/function.lua"
  gv_argv[lua_fn]="/fn/lua_fn${SEP}/fn/function.lua"
else
  skip "lua_fn: $FIXTURES/lua_fn or function.lua not built"
fi
if [[ -x $FIXTURES/python_fn && -r $FIXTURES/handler.py && -r $STDLIB/json/__init__.py ]]; then
  # The stdlib is the host's, mounted read-only, PYTHONHOME=/usr (tests/e2e/image_python.sh).
  py_bind="--mount${SEP}$STDLIB:$STDLIB:ro${SEP}--mount${SEP}$FIXTURES:/fn:ro"
  add_case python_fn "/usr/bin/env${SEP}-i${SEP}PYTHONHOME=/usr${SEP}$FIXTURES/python_fn${SEP}-s${SEP}$FIXTURES/handler.py" \
    "--env${SEP}PYTHONHOME=/usr${SEP}$py_bind" "$FIXTURES/python_fn${SEP}-s${SEP}/fn/handler.py" \
    "$py_bind" '{"get": "cyrama0"}'
else
  skip "python_fn: $FIXTURES/python_fn, handler.py or $STDLIB missing"
fi
((${#cases[@]})) || die "no function to measure"

# ---- preparation: images, native reference answers -----------------------------------------

# catimg build --sample-request (the written working set, pre-copied at boot) where it exists.
sample_opt=0
grep -q -- "--sample-request" <<<"$("$CATIMG" build --help 2>&1)" && sample_opt=1
mkdir -p "$tmp/img"
for c in "${cases[@]}"; do
  printf '%s\n' "${request[$c]}" >"$tmp/$c.request"
  split "${native_argv[$c]}"
  untimed "$tmp/$c.request" "$tmp/$c.native.ref" "$tmp/$c.native.err" "${SPLIT[@]}"
  [[ -z $FAIL ]] || die "$c: the native run $FAIL"
  split "${cap_opts[$c]}"
  opts=("${SPLIT[@]}")
  ((sample_opt)) && opts+=(--sample-request "$tmp/$c.request")
  split "${guest_argv[$c]}"
  untimed /dev/null "$tmp/$c.build.out" "$tmp/$c.build.err" \
    "$CATIMG" build "${opts[@]}" -o "$tmp/img/$c.cfi" -- "${SPLIT[@]}"
  [[ -z $FAIL ]] || die "$c: catimg build $FAIL"
done
((sample_opt)) || note "catimg build has no --sample-request here: images carry no working set (no pre-copy)"

# ---- the servers -----------------------------------------------------------------------------

declare -A server_pid server_url
# start_server CASE [taskset CPUS]: one `catload serve` on a free loopback port serving CASE;
# sets server_pid[CASE] and server_url[CASE] (http://HOST:PORT).
# KEY CASE~path: the same with --ready 0 (every instance booted on the request's path).
start_server() {
  local key=$1 c=${1%~path}
  shift
  local -a pin=() extra=()
  [[ $# -gt 0 ]] && pin=(taskset -c "$2")
  [[ $key == *~path ]] && extra=(--ready 0)
  split "${bind_opts[$c]}"
  local log=$tmp/$key.serve.log
  : >"$log"
  "${pin[@]}" "$CATLOAD" serve --listen 127.0.0.1:0 --timeout 60 --max-instances 8 --queue 1024 \
    "${serve_opts[@]}" "${extra[@]}" "${SPLIT[@]}" "$tmp/img/$c.cfi" 2>"$log" >/dev/null &
  server_pid[$key]=$!
  c=$key
  local i url=""
  for ((i = 0; i < 200; i++)); do
    url=$(grep -o -m1 'listening on http://[^ ]*' "$log" | sed 's/^listening on //' || true)
    [[ -n $url ]] && break
    kill -0 "${server_pid[$c]}" 2>/dev/null || die "$c: catload serve exited ($(first_line "$log"))"
    sleep 0.05
  done
  [[ -n $url ]] || die "$c: catload serve did not say where it listens ($(first_line "$log"))"
  server_url[$c]=$url
}
stop_server() {
  local c=$1
  [[ -n ${server_pid[$c]:-} ]] || return 0
  kill -TERM "${server_pid[$c]}" 2>/dev/null || true
  wait "${server_pid[$c]}" 2>/dev/null || true
  unset "server_pid[$c]"
}
stop_all_servers() {
  local c
  for c in "${!server_pid[@]}"; do stop_server "$c"; done
}
bench_cleanup_hooks+=(stop_all_servers gv_cleanup)

# Does this serve boot ahead of the request (--ready)? Then a second server per function boots
# every instance on the request's path (--ready 0): the serve-path:MODE rows.
has_ready=0
grep -q -- '--ready' <<<"$("$CATLOAD" serve --help 2>&1)" && has_ready=1
for c in "${cases[@]}"; do
  start_server "$c"
  ((has_ready)) && start_server "$c~path"
done

# Which modes each server answers: one checked request per mode (the answer must be native's).
declare -A serve_ok
for c in "${cases[@]}"; do
  for m in "${MODES[@]}"; do
    code=$(curl -s -o "$tmp/$c.$m.out" -D "$tmp/$c.$m.hdr" -w '%{http_code}' \
      --data-binary "@$tmp/$c.request" "${server_url[$c]}/invoke/$c?boot=$m" || echo 000)
    if [[ $code != 200 ]]; then
      msg=$(head -c 160 "$tmp/$c.$m.out" | tr '\n' ' ')
      if [[ $code == 501 ]]; then
        # Not offered by this server (spec/serve.md: 501): the mode's boot latency is still
        # measured, by catload run --boot (the run:MODE rows).
        note "$c serve:$m: the server answers 501 ($msg): boot latency measured with catload run --boot $m instead"
      else
        skip "$c serve:$m: HTTP $code ($msg)"
      fi
    elif ! cmp -s "$tmp/$c.native.ref" "$tmp/$c.$m.out"; then
      skip "$c serve:$m: the answer differs from native ($(head -c 60 "$tmp/$c.$m.out" | tr '\n' ' ') vs $(head -c 60 "$tmp/$c.native.ref" | tr '\n' ' '))"
    else
      serve_ok[$c.$m]=1
    fi
  done
done

# ---- serve latency, interleaved ------------------------------------------------------------

# One curl per repetition: every function and mode once, each on its server's kept-alive
# connection. -w gives the URL (function, mode), status, time_total (s) and the boot header.
fmt='%{url}\t%{http_code}\t%{time_total}\t%header{x-catalyzer-boot-latency-us}\t%header{x-catalyzer-booted-ahead}\t%header{x-catalyzer-boot-stages}\n'
# First a GET /healthz to each server, untimed: every timed request then goes over an open
# connection (the first request on a new one also paid the connection's setup).
curl_args=()
for key in "${!server_url[@]}"; do
  ((${#curl_args[@]})) && curl_args+=(--next)
  curl_args+=(-s -o /dev/null -w '' "${server_url[$key]}/healthz")
done
for c in "${cases[@]}"; do
  for m in "${MODES[@]}"; do
    [[ -n ${serve_ok[$c.$m]:-} ]] || continue
    curl_args+=(--next -s -o /dev/null -w "$fmt" --data-binary "@$tmp/$c.request" "${server_url[$c]}/invoke/$c?boot=$m")
    if [[ -n ${server_url[$c~path]:-} && $m != cold ]]; then
      # (the server ignores the bench= parameter; it names the series here)
      curl_args+=(--next -s -o /dev/null -w "$fmt" --data-binary "@$tmp/$c.request" "${server_url[$c~path]}/invoke/$c?boot=$m&bench=path")
    fi
  done
done
if [[ " ${curl_args[*]} " == *" --data-binary "* ]]; then
  for ((i = 0; i < REPS; i++)); do
    curl "${curl_args[@]}" >>"$tmp/curl.tsv" || die "curl failed on repetition $((i + 1))"
  done
  while IFS=$'\t' read -r url code total boot ahead stages; do
    c=${url##*/invoke/} c=${c%%\?*} m=${url##*boot=} series=serve
    [[ $m == *'&bench=path' ]] && series=serve-path
    m=${m%%&*}
    if [[ $code != 200 ]]; then
      skip "$c $series:$m: HTTP $code during the timed runs"
      continue
    fi
    sample "$c" "$series:$m" e2e_us "$(awk -v t="$total" 'BEGIN { printf "%.1f", t * 1e6 }')"
    [[ -n $boot ]] && sample "$c" "$series:$m" boot_us "$boot"
    # Booted ahead of the request or on its path (X-Catalyzer-Booted-Ahead), and where its boot
    # latency went (X-Catalyzer-Boot-Stages: queue:12,request:9,...), one sample per stage.
    [[ -n $ahead ]] && sample "$c" "$series:$m" booted_ahead "$ahead"
    if [[ -n $stages ]]; then
      IFS=, read -r -a stage_list <<<"$stages"
      for st in "${stage_list[@]}"; do
        [[ $st =~ ^([a-z_]+):([0-9]+)$ ]] && sample "$c" "$series:$m" "stage_${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
      done
    fi
  done <"$tmp/curl.tsv"
fi

# Modes serve does not offer: the same boots in one `catload run --repeat` (boot latency only).
for c in "${cases[@]}"; do
  for m in warm fork; do
    [[ -n ${serve_ok[$c.$m]:-} ]] && continue
    if ! grep -q -- '--boot' <<<"$("$CATLOAD" run --help 2>&1)"; then
      skip "$c run:$m: catload run has no --boot"
      continue
    fi
    split "${bind_opts[$c]}"
    untimed "$tmp/$c.request" "$tmp/$c.run-$m.out" "$tmp/$c.run-$m.err" \
      "$CATLOAD" run "${SPLIT[@]}" --boot "$m" --repeat "$REPS" --stats=json "$tmp/img/$c.cfi"
    if [[ -n $FAIL ]]; then
      skip "$c run:$m: catload run --boot $m $FAIL"
      continue
    fi
    while read -r b r; do
      sample "$c" "run:$m" boot_us "$b"
      sample "$c" "run:$m" run_us "$r"
    done < <(grep '^{' "$tmp/$c.run-$m.err" | jq -r '"\(.boot_ns / 1000) \((.run_ns // 0) / 1000)"')
  done
done

# ---- native baselines, interleaved ---------------------------------------------------------

[[ -x $REQUEST_TIMER ]] || skip "native-req: $REQUEST_TIMER not built (target request_timer)"
for ((i = 0; i < NREPS; i++)); do
  for c in "${cases[@]}"; do
    split "${native_argv[$c]}"
    timed "$tmp/$c.request" "$tmp/$c.native.out" "$tmp/$c.native.err" native "${SPLIT[@]}"
    ((RUN_RC == 0)) || die "$c native exited $RUN_RC"
    sample "$c" native e2e_us "$RUN_US"
    if [[ -x $REQUEST_TIMER ]]; then
      res=$("$REQUEST_TIMER" "$tmp/$c.request" "$tmp/$c.req.out" "$tmp/$c.req.err" "${SPLIT[@]}") ||
        die "request_timer $c: $res"
      [[ ${res#* } == 0 ]] || die "request_timer $c: the native process exited ${res#* } ($(first_line "$tmp/$c.req.err"))"
      sample "$c" native-req e2e_us "${res% *}"
    fi
  done
done

# ---- gVisor restore, for reference ---------------------------------------------------------

if [[ ${BENCH_RUNSC:-1} == 0 ]]; then
  skip_optional "gVisor: BENCH_RUNSC=0"
elif ! command -v runsc >/dev/null; then
  skip_optional "gVisor: runsc not installed"
else
  gv_probe_root
  if ((have_gv)); then
    for c in hello lua_fn; do
      [[ -n ${native_argv[$c]:-} ]] || continue
      gv_checkpoint "$c"
      if [[ -n $GV_FAIL ]]; then
        skip_optional "$c gv-restore: $GV_FAIL"
        continue
      fi
      for ((i = 0; i < NREPS; i++)); do
        timed "$tmp/$c.request" "$tmp/$c.gv.out" "$tmp/$c.gv.err" "${GV[@]}" restore \
          --image-path "$tmp/gv-$c/image" --bundle "$tmp/gv-$c/bundle" "catserve-$$-$c-$i"
        if ((RUN_RC != 0)); then
          skip_optional "$c gv-restore: exited $RUN_RC ($(first_line "$tmp/$c.gv.err"))"
          break
        fi
        sample "$c" gv-restore e2e_us "$RUN_US"
      done
    done
  fi
  [[ -n ${native_argv[python_fn]:-} ]] && note "python_fn gv-restore: not measured (its bundle would need the host's stdlib in its rootfs)"
fi

# ---- throughput with wrk, 1 and 2 cores ------------------------------------------------------

if ! command -v wrk >/dev/null; then
  skip_optional "throughput: wrk not installed (Debian package wrk)"
elif [[ -z ${native_argv[hello]:-} ]]; then
  skip "throughput: hello not built"
else
  stop_server hello
  for cpus in 0 0,1; do
    ncpu=$(($(tr ',' '\n' <<<"$cpus" | wc -l)))
    if ((ncpu > $(nproc))); then
      skip_optional "throughput on $ncpu cores: this machine has $(nproc)"
      continue
    fi
    start_server hello taskset "$cpus"
    for m in fork warm cold; do
      if [[ -z ${serve_ok[hello.$m]:-} ]]; then
        [[ $m == cold ]] || note "hello throughput serve:$m on $ncpu core(s): not offered by the server"
        continue
      fi
      BODY_FILE=$tmp/hello.request wrk -t2 -c4 -d"${WRK_S}s" --latency -s "$BENCH_DIR/serve_post.lua" \
        "${server_url[hello]}/invoke/hello?boot=$m" >"$tmp/wrk.$m.$ncpu.out" 2>&1 ||
        die "wrk failed: $(first_line "$tmp/wrk.$m.$ncpu.out")"
      rps=$(awk '/^Requests\/sec:/ { print $2 }' "$tmp/wrk.$m.$ncpu.out")
      bad=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$tmp/wrk.$m.$ncpu.out")
      [[ -n $rps ]] || die "wrk printed no Requests/sec: $(first_line "$tmp/wrk.$m.$ncpu.out")"
      if [[ -n $bad ]]; then
        # The server's line for the first of them says why (status, outcome, message).
        why=$(grep -m1 -E 'status=[^2]' "$tmp/hello.serve.log" | grep -o 'message=.*' | cut -c1-400 || true)
        skip "hello throughput serve:$m on $ncpu core(s): $bad answers were not 2xx (${why:-the server logged none})"
      fi
      sample hello "serve:$m" "rps_${ncpu}cpu" "$rps"
    done
    stop_server hello
  done
fi
stop_all_servers

# ---- memory: N live Lua instances ------------------------------------------------------------

# pss_kb PID: the process's PSS in KiB (smaps_rollup), 0 if it is gone.
pss_kb() { awk '/^Pss:/ { print $2; exit }' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0; }
# children PID: the processes PID is the parent of (the server's shells).
children() { cat "/proc/$1/task/"*/children 2>/dev/null; }
if [[ -z ${native_argv[lua_fn]:-} ]]; then
  skip "memory: lua_fn not built"
elif ! grep -q -- '--ready' <<<"$("$CATLOAD" serve --help 2>&1)"; then
  skip "memory: catload serve has no --ready (no instances held ahead of their request)"
else
  # N live forked Lua instances held by one server: one worker (--max-instances 1) keeping N
  # fork instances booted ahead of their request (--ready N), each with the working set
  # pre-copied (--prefault recorded, the default) or not (--prefault none: every page shared
  # with the template until written). One fork request makes the template and asks for them.
  for pf in recorded none; do
    for n in $MEM_COUNTS; do
      split "${bind_opts[lua_fn]}"
      log=$tmp/mem.$pf.$n.log
      "$CATLOAD" serve --listen 127.0.0.1:0 --max-instances 1 --ready "$n" --prefault "$pf" \
        "${SPLIT[@]}" "$tmp/img/lua_fn.cfi" 2>"$log" >/dev/null &
      mpid=$!
      url=""
      for ((i = 0; i < 200; i++)); do
        url=$(grep -o -m1 'listening on http://[^ ]*' "$log" | sed 's/^listening on //' || true)
        [[ -n $url ]] && break
        sleep 0.05
      done
      if [[ -z $url ]] || ! curl -s -o /dev/null --data-binary "@$tmp/lua_fn.request" "$url/invoke/lua_fn?boot=fork"; then
        skip "memory ($pf, $n): the server did not answer ($(first_line "$log"))"
      else
        # Idle: at least N + 1 shells (the template and N instances; the zygote's few besides)
        # and no CPU used by the whole tree for 0.5 s.
        last=-1 still=0 deadline=$((SECONDS + RUN_TIMEOUT))
        while ((SECONDS < deadline && still < 5)); do
          sleep 0.1
          shells=$(children "$mpid" | wc -w)
          now=$(tree_cpu "$mpid")
          if ((shells > n && now == last)); then still=$((still + 1)); else still=0; fi
          last=$now
        done
        if ((still < 5)); then
          skip "memory ($pf, $n): the instances were not all ready and idle within $RUN_TIMEOUT s"
        else
          shell_pss=0
          for sp in $(children "$mpid"); do shell_pss=$((shell_pss + $(pss_kb "$sp"))); done
          sample lua_fn "mem-$pf:$n" pss_shells_kb "$shell_pss"
          sample lua_fn "mem-$pf:$n" pss_total_kb "$((shell_pss + $(pss_kb "$mpid")))"
          sample lua_fn "mem-$pf:$n" shells "$(children "$mpid" | wc -w)"
        fi
      fi
      kill -TERM "$mpid" 2>/dev/null || true
      wait "$mpid" 2>/dev/null || true
    done
  done
fi

# ---- report ----------------------------------------------------------------------------------

cp "$SAMPLES" "$RESULTS/samples.tsv"
skips=$tmp/skips.txt
printf '%s\n' "${skipped[@]}" >"$skips"
"$PYTHON" "$BENCH_DIR/lib/serve_report.py" --samples "$SAMPLES" --skips "$skips" \
  --png "$RESULTS/serve_bench.png" --summary "$RESULTS/summary.txt" \
  --title "catload serve ${serve_opts[*]:-}, commit $commit, $(date -u +%Y-%m-%d), $(nproc) x $cpu_model$([[ $QUICK == 1 ]] && echo ', QUICK: figures mean nothing')" ||
  die "serve_report.py failed"
echo "load average at start: $LOAD_START, at the end: $(cut -d' ' -f1-3 /proc/loadavg)" |
  tee -a "$RESULTS/summary.txt"
echo "results: $RESULTS/summary.txt, $RESULTS/serve_bench.png, $RESULTS/samples.tsv"
echo
print_skipped
echo "bench: done"
