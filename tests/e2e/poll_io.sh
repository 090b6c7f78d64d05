#!/usr/bin/env bash
# poll_io: fixtures/poll_io (poll, ppoll, select, pselect6, epoll, eventfd, timerfd, AF_UNIX
# sockets) gives the same stdout and exit code as natively under `catload exec` and after
# capture -> catimg build -> cold boot, for several requests; its blocking poll of fd 0 is the
# func-entry point; fd 0 at capture looks like the pipe it is at boot; capture refuses a live-
# only file open at func-entry; other socket families are EACCES and a host socket is never
# reached.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

e2e_require_images
e2e_require_fixture poll_io
e2e_tmpdir
PIO=$FIXTURES/poll_io

# Under exec: every check, then each one alone, then no request at all.
e2e_compare exec.all --rc 0 --input all -- "$PIO"
e2e_compare exec.each --rc 0 --input $'poll\nselect\neventfd\ntimerfd\nepoll\nsockets' -- "$PIO"
e2e_compare exec.no-request --rc 0 -- "$PIO"

# Captured at its blocking poll of fd 0 (without the poll entry point capture waits forever),
# built and booted: several different requests, and the conventional restore.
if e2e_image poll_io -- "$PIO"; then
  e2e_image_verify poll_io
  e2e_image_compare poll_io all --rc 0 --input all
  e2e_image_compare poll_io epoll-sockets --rc 0 --input $'epoll\nsockets'
  e2e_image_compare poll_io timerfd-twice --rc 0 --input $'timerfd\ntimerfd'
  e2e_image_compare poll_io empty --rc 0
  e2e_image_compare poll_io restore --restore --rc 0 --input $'poll\nselect'
fi

# fd 0 during init: at capture (catload's stdin is /dev/null here) it must already look like
# the pipe the request comes through at boot.
if e2e_image stdin_kind -- "$PIO" stdin-kind; then
  # (The poll of fds 0-2 is left out: natively the writer may or may not have closed yet.)
  native=$(printf 'eventfd\n' | "$PIO" stdin-kind | grep -v '^stdio poll')
  booted=$(printf 'eventfd\n' | "$CATLOAD" run "$E2E_TMP/stdin_kind.cfi" 2>"$E2E_TMP/stdin_kind.err" |
    grep -v '^stdio poll')
  if [[ $native == "$booted" ]]; then
    e2e_pass "stdin-kind: fd 0 during init is a pipe after boot, as natively"
  else
    e2e_fail "stdin-kind" "booted output differs from native"
    diff <(echo "$native") <(echo "$booted") | head -5
  fi
fi

# A live-only file (a socket) open at the func-entry point: capture refuses it, naming the fd
# and kind (eventfds, timerfds and epoll are carried: e2e.live_fds).
"$CATLOAD" capture -o "$E2E_TMP/hold.core" -- "$PIO" hold-socket </dev/null \
  >"$E2E_TMP/hold.out" 2>"$E2E_TMP/hold.err"
rc=$?
if [[ $rc != 0 && ! -s $E2E_TMP/hold.core ]] && grep -q "fd 3 is socket:" "$E2E_TMP/hold.err" &&
  [[ $(wc -l <"$E2E_TMP/hold.err") == 1 ]]; then
  e2e_pass "capture refuses a socket open at func-entry (exit $rc, one clear line)"
else
  e2e_fail "hold-socket" "capture exit $rc; stderr: $(head -c 300 "$E2E_TMP/hold.err")"
fi

# Sandbox-only: other families are EACCES, and an abstract socket bound on the host (by
# python3, here) is not reachable from the guest, which natively connects to it.
if command -v python3 >/dev/null 2>&1; then
  name="catalyzer-e2e-$$-$RANDOM"
  python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind("\0" + sys.argv[1]); s.listen(8)
print("ready", flush=True)
time.sleep(60)' "$name" >"$E2E_TMP/listener.out" 2>&1 &
  listener=$!
  for _ in $(seq 50); do grep -q ready "$E2E_TMP/listener.out" 2>/dev/null && break; sleep 0.1; done
  native=$(echo sandbox-only | "$PIO" x "$name" | grep "host's abstract")
  guest=$(echo sandbox-only | "$CATLOAD" exec -- "$PIO" x "$name" 2>"$E2E_TMP/only.err")
  kill "$listener" 2>/dev/null
  wait "$listener" 2>/dev/null
  e2e_check "natively the guest reaches the host's abstract socket (so the check can fail)" \
    test "$native" = "connect to the host's abstract socket: 0 0"
  e2e_check "in the sandbox the host's abstract socket is not reached" \
    grep -q "connect to the host's abstract socket: -1 ECONNREFUSED" <<<"$guest"
  e2e_check "socket() of AF_INET, AF_INET6, AF_NETLINK, AF_PACKET is EACCES" \
    test "$(grep -c '^socket family [0-9]*: -1 EACCES$' <<<"$guest")" = 4
  e2e_check "socketpair(AF_INET) is EACCES" grep -q "socketpair AF_INET: -1 EACCES" <<<"$guest"
else
  e2e_partial_skip "python3 not found; the host-socket check needs a listener on the host"
fi

e2e_finish
