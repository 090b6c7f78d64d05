#!/usr/bin/env bash
# e2e.serve_lifecycle: what a long-running `catload serve` leaves behind and says about itself
# (spec/serve.md): --help says that `--platform auto` means ptrace for serve; fork templates are
# made ahead of the first request and freed when their image is removed; a server started with
# `taskset -c 0` keeps its workers and shells on CPU 0; every invocation's
# log line says where its boot latency went (boot_stages); a server killed with SIGKILL leaves
# no sandbox shell behind (the zygote pool's stopped, untraced shells included: their
# parent-death signal, PtraceShell::ReleaseThread).
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib/serve_server.sh"
# holders FILE: the pids of live (not zombie) processes with FILE open.
holders() {
  local p
  for p in $(find /proc/[0-9]*/fd -maxdepth 1 -lname "$1" 2>/dev/null | cut -d/ -f3 | sort -u); do
    [[ $(awk '{ print $3 }' "/proc/$p/stat" 2>/dev/null) == Z ]] || echo "$p"
  done
}

"$CATIMG" build -q -o "$T/hello.cfi" -- "$FIXTURES/hello" </dev/null >"$T/build.err" 2>&1 ||
  { e2e_show "build" "$T/build.err" 20; e2e_setup_fail "catimg build hello failed"; }

# --- --help: --platform auto is ptrace for serve (spec/kvm.md, "Choosing") ---
"$CATLOAD" serve --help >"$T/help" 2>&1
e2e_check "serve --help says that --platform auto means ptrace for serve" \
  grep -q "auto, the default, means ptrace for serve" "$T/help"

# wait_holders FILE COUNT: polls (10 s at most) until COUNT live processes hold FILE; sets HELD.
wait_holders() {
  local i
  for i in $(seq 200); do
    HELD=$(holders "$1" | wc -l)
    [[ $HELD == "$2" ]] && return 0
    sleep 0.05
  done
  return 1
}

# --- fork templates are made ahead, and freed with their image ---
# Two workers, no ready instances, no request: the server and one template per worker.
mkdir -p "$T/dir"
cp "$T/hello.cfi" "$T/dir/hello.cfi"
start_server ahead --ready 0 --max-instances 2 "$T/dir"
wait_holders "$T/ahead.out" 3
e2e_check "before any request every worker has made its fork template (server + 2 shells; got $HELD processes)" \
  test "$HELD" = 3
# A request starts the zygote pool (its master and 2 shells): 6 processes.
printf 'w' | curl -s -o /dev/null --data-binary @- "$URL/invoke/hello?boot=fork"
wait_holders "$T/ahead.out" 6
before=$HELD
rm "$T/dir/hello.cfi"
kill -HUP "$SERVER_PID"
wait_holders "$T/ahead.out" 4
e2e_check "a removed image's 2 templates are freed (the server and its pool left: 6 -> 4 processes; got $before -> $HELD)" \
  test "$before" = 6 -a "$HELD" = 4
kill -TERM "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null

# --- a server started on one CPU keeps every thread and shell there ---
if command -v taskset >/dev/null && (($(nproc) > 1)); then
  taskset -c 0 "$CATLOAD" serve --listen 127.0.0.1:0 --max-instances 2 --ready 0 \
    "$T/hello.cfi" >"$T/one.out" 2>"$T/one.log" &
  SERVER_PID=$!
  SERVER_PIDS+=("$SERVER_PID")
  wait_holders "$T/one.out" 3
  # The server's threads (its workers too) and every shell holding its fd table.
  wide=""
  for p in $(holders "$T/one.out"); do
    for t in /proc/"$p"/task/*; do
      cpus=$(awk '/^Cpus_allowed_list/ { print $2 }' "$t/status" 2>/dev/null)
      [[ -n $cpus && $cpus != 0 ]] && wide+="${t#/proc/}:$cpus "
    done
  done
  e2e_check "taskset -c 0: no thread or shell of the server runs outside CPU 0 (got '$wide')" \
    test -z "$wide"
  kill -TERM "$SERVER_PID"
  wait "$SERVER_PID" 2>/dev/null
else
  e2e_partial_skip "taskset -c 0: needs taskset and more than one CPU"
fi

# --- the log line says where the boot latency went ---
start_server main --ready 0 --max-instances 1 "$T/hello.cfi"
for mode in fork warm cold; do
  printf 'w' | curl -s -o /dev/null --data-binary @- "$URL/invoke/hello?boot=$mode"
done
for mode in fork warm cold; do
  line=$(grep "mode=$mode status=200" "$T/main.log" | head -1)
  e2e_check "$mode: the log line has boot_stages, queue first (got '${line##*total_us=}')" \
    grep -Eq "boot_stages=queue:[0-9]+(,[a-z_]+:[0-9]+)+( |$)" <<<"$line"
done
e2e_check "fork: boot_stages names the fork of the template's shell" \
  grep -q "mode=fork .*boot_stages=.*fork_shell:" "$T/main.log"

# --- SIGKILL leaves no shell behind ---
# The pool's shells are forks made in the background: give the pool time to be full.
sleep 0.5
before=$(holders "$T/main.out" | wc -l)
kill -KILL "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null
left=""
for i in $(seq 40); do
  left=$(holders "$T/main.out" | tr '\n' ' ')
  [[ -z $left ]] && break
  sleep 0.05
done
e2e_check "the server and its shells held the marker file before the kill (got $before processes)" \
  test "$before" -ge 3
e2e_check "after kill -9 of the server no shell survives (left: '$left')" test -z "$left"
if [[ -n $left ]]; then
  for p in $left; do kill -KILL "$p" 2>/dev/null; done
fi

e2e_finish
