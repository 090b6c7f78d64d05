#!/usr/bin/env bash
# e2e.signals: signal delivery through the real binaries. fixtures/signals gives the same
# stdout and exit code natively and under `catload exec` (handlers, faults caught by handlers
# and siglongjmp, masks, sigaltstack, timers, SA_RESTART vs EINTR on a blocking read); forged
# signal frames gain nothing (same result as natively, and catload names the denial); signals
# never reach a pid outside the sandbox; timers and pending signals survive capture -> catimg
# build -> cold boot; busybox sh's `trap`.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

e2e_require_catload
e2e_require_images
e2e_require_fixture signals
e2e_tmpdir
SIG=$FIXTURES/signals

e2e_compare signals.handlers --rc 0 -- "$SIG" handlers
e2e_compare signals.alarm --rc 0 -- "$SIG" alarm

# A blocking read of stdin (a pipe whose writer answers after a second) under a 50 ms timer:
# SA_RESTART restarts it and it reads the line; without SA_RESTART it fails with EINTR.
for mode in read-restart read-eintr; do
  { sleep 1; echo "late line"; } | "$SIG" "$mode" >"$E2E_TMP/$mode.native" 2>&1
  native_rc=${PIPESTATUS[1]}
  { sleep 1; echo "late line"; } | timeout -k 5 60 "$CATLOAD" exec -- "$SIG" "$mode" \
    >"$E2E_TMP/$mode.guest" 2>"$E2E_TMP/$mode.guest.err"
  guest_rc=${PIPESTATUS[1]}
  e2e_check "signals.$mode: same output and exit code as natively (native $native_rc, guest $guest_rc)" \
    cmp -s "$E2E_TMP/$mode.native" "$E2E_TMP/$mode.guest"
  [[ $guest_rc == "$native_rc" ]] || e2e_fail "signals.$mode.rc" "native $native_rc, guest $guest_rc"
done
e2e_check "signals.read-restart: the read was restarted and got the line" \
  grep -q "read 10 bytes: late line" "$E2E_TMP/read-restart.guest"
e2e_check "signals.read-eintr: the read failed with EINTR" \
  grep -q "read failed: Interrupted system call" "$E2E_TMP/read-eintr.guest"

# Forged frames (hostile guest): IOPL/VM/NT are not taken from the frame; another code
# selector, a non-canonical rip, an unreadable frame or a bad FPU state end the guest with SIGSEGV
# (natively too), and TF only traps the guest itself.
e2e_compare signals.forge-iopl --rc 0 -- "$SIG" forge-iopl
for f in cs rip frame fpu; do
  e2e_compare "signals.forge-$f" --rc 139 -- "$SIG" "forge-$f"
done
e2e_compare signals.forge-tf --rc 133 -- "$SIG" forge-tf
"$CATLOAD" exec -- "$SIG" forge-rip >/dev/null 2>"$E2E_TMP/forge-rip.err"
e2e_check "signals.forge-rip: catload names the denial" \
  grep -q "rt_sigreturn: frame's rip is outside the guest's address space" "$E2E_TMP/forge-rip.err"
"$CATLOAD" exec -- "$SIG" forge-frame >/dev/null 2>"$E2E_TMP/forge-frame.err"
e2e_check "signals.forge-frame: catload names the denial" \
  grep -q "rt_sigreturn: bad signal frame pointer" "$E2E_TMP/forge-frame.err"
grep -q "IOPL 0, VM 0, NT 0, cs 0x33" "$E2E_TMP/signals.forge-iopl.guest.out"
e2e_check "signals.forge-iopl: IOPL, VM and NT stayed clear" test $? = 0
"$CATLOAD" exec -- "$SIG" forge-cs >/dev/null 2>"$E2E_TMP/forge-cs.err"
e2e_check "signals.forge-cs: catload names the denial" \
  grep -q "rt_sigreturn: frame's cs is not the user code selector" "$E2E_TMP/forge-cs.err"

# Only the sandbox's own pid: every other pid is ESRCH, never a host process.
"$CATLOAD" exec -- "$SIG" outside >"$E2E_TMP/outside.out" 2>&1
e2e_check "signals.outside: no pid outside the sandbox is reachable" \
  grep -q "pids 2..4095 that kill(pid, 0) reaches: 0" "$E2E_TMP/outside.out"
e2e_check "signals.outside: kill(-1), tgkill, tkill, rt_sigqueueinfo to others are ESRCH" \
  test "$(grep -c ': ESRCH$' "$E2E_TMP/outside.out")" = 4

# Across a snapshot: the interval timer keeps ticking and a blocked pending signal is delivered
# once unblocked, after capture -> build -> cold boot, for several requests.
if e2e_image signals.persist -- "$SIG" persist; then
  e2e_image_compare signals.persist first --rc 0 --input "one"
  e2e_image_compare signals.persist second --rc 0 --input "two"
  e2e_image_compare signals.persist restore --rc 0 --restore --input "three"
fi

# busybox sh: a trap runs on a signal the shell sends itself.
BUSYBOX=${BUSYBOX:-/bin/busybox}
if [[ -x $BUSYBOX ]] && ! ldd "$BUSYBOX" >/dev/null 2>&1; then
  e2e_compare signals.busybox-trap --rc 0 -- "$BUSYBOX" sh -c \
    'trap "echo caught USR1" USR1; kill -USR1 $$; echo after; trap "echo bye" EXIT; exit 0'
  e2e_compare signals.busybox-trap-term --rc 143 -- "$BUSYBOX" sh -c 'kill -TERM $$; echo not reached'
else
  e2e_partial_skip "busybox-static is not installed: the trap cases did not run"
fi

e2e_finish
