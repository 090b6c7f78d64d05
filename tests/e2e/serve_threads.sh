#!/usr/bin/env bash
# e2e.serve_threads: a multi-threaded function through `catload serve` with fork boot (issues 8
# and 9). fixtures/thread_pool's workers are created during init and wait on a condition
# variable at the func-entry point; every fork of the template re-creates them (spec/boot.md,
# "Threads across snapshots"). Requests answered by instances booted ahead of the request
# (--ready 1) and on the request's path (--ready 0), one after another and 8 at once, each
# answer equal to native: every instance starts from the snapshot (its first request goes to
# worker 0, it counts its own requests), so none sees another's or the template's threads or
# memory. Warm boot through the same server for comparison.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib/serve_server.sh"
e2e_require_fixture thread_pool

REQ=$'first request\nb\nthe third'
printf '%s\n' "$REQ" | "$FIXTURES/thread_pool" serve >"$T/native.out" ||
  e2e_setup_fail "thread_pool serve failed natively"
"$CATIMG" build -q -o "$T/pool.cfi" -- "$FIXTURES/thread_pool" serve </dev/null >"$T/build.err" 2>&1 ||
  { e2e_show "build" "$T/build.err" 20; e2e_setup_fail "catimg build thread_pool serve failed"; }

# invoke QUERY OUT: POST the request to /invoke/pool?QUERY; body in OUT, headers in OUT.hdrs.
invoke() {
  printf '%s\n' "$REQ" | curl -s -o "$2" -D "$2.hdrs" --data-binary @- "$URL/invoke/pool?$1"
}
header() { grep -i "^$2:" "$1.hdrs" | head -1 | cut -d' ' -f2- | tr -d '\r'; }

for ready in 1 0; do
  start_server "ready$ready" --ready "$ready" --max-instances 2 --timeout 20 "$T/pool.cfi"
  # One after another: the first boots on the request's path, later ones (with --ready 1) find
  # an instance forked ahead once the worker has made it.
  got="" ahead=0
  for i in $(seq 6); do
    out=$T/r$ready.$i
    invoke boot=fork "$out"
    cmp -s "$T/native.out" "$out" || got+=" request $i differs:$(head -c 200 "$out")"
    [[ $(header "$out" X-Catalyzer-Boot-Mode) == fork ]] || got+=" request $i not fork"
    [[ $(header "$out" X-Catalyzer-Booted-Ahead) == 1 ]] && ahead=$((ahead + 1))
    sleep 0.1
  done
  e2e_check "ready $ready: six fork instances answer as natively${got}" test -z "$got"
  if [[ $ready == 1 ]]; then
    # A slow machine (sanitizers) may not have made one ahead yet: give it up to 5 s more.
    for i in $(seq 50); do
      ((ahead >= 1)) && break
      sleep 0.1
      invoke boot=fork "$T/more"
      cmp -s "$T/native.out" "$T/more" || got+=" a later request differs"
      [[ $(header "$T/more" X-Catalyzer-Booted-Ahead) == 1 ]] && ahead=$((ahead + 1))
    done
    e2e_check "ready 1: later fork instances answer as natively${got}" test -z "$got"
    e2e_check "ready 1: fork instances booted ahead answer (got $ahead)" test "$ahead" -ge 1
  else
    e2e_check "ready 0: every fork instance boots on the request's path (got $ahead ahead)" \
      test "$ahead" = 0
  fi
  # Eight at once over two workers: instances of one template side by side.
  pids=()
  for i in $(seq 8); do
    invoke boot=fork "$T/c$ready.$i" &
    pids+=($!)
  done
  wait "${pids[@]}"
  bad=""
  for i in $(seq 8); do cmp -s "$T/native.out" "$T/c$ready.$i" || bad+=" $i"; done
  e2e_check "ready $ready: eight concurrent fork instances answer as natively (differ:${bad:- none})" \
    test -z "$bad"
  invoke boot=warm "$T/w$ready"
  e2e_check "ready $ready: a warm instance answers as natively" cmp -s "$T/native.out" "$T/w$ready"
  e2e_check "ready $ready: no fork boot failed in the log" \
    bash -c "! grep -q 'outcome=boot_failed' '$T/ready$ready.log'"
  kill -TERM "$SERVER_PID"
  wait "$SERVER_PID"
done

e2e_finish
