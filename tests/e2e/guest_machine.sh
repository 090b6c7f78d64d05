#!/usr/bin/env bash
# guest_machine: what the guest is told about its machine is self-consistent and not catload's
# own placement: nproc counts the CPUs catload was given (not the one CPU the instance's thread
# is pinned to), and busybox free shows a non-negative "used" that adds up with "free".
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

e2e_require_catload
BUSYBOX=$(command -v busybox) || e2e_skip "busybox not found (scripts/setup-deps.sh installs busybox-static)"
e2e_tmpdir

# catload pins the instance's thread (and so its shell) to one CPU; the guest sees them all.
e2e_compare nproc --rc 0 -- "$BUSYBOX" nproc
if command -v taskset >/dev/null 2>&1; then
  one=$(taskset -c 0 "$CATLOAD" exec -- "$BUSYBOX" nproc 2>/dev/null)
  e2e_check "nproc under a one-CPU catload is 1 (the guest gets what catload has)" test "$one" = 1
fi

"$CATLOAD" exec -- "$BUSYBOX" free >"$E2E_TMP/free.out" 2>"$E2E_TMP/free.err"
rc=$?
read -r total used free < <(awk '/^Mem:/ {print $2, $3, $4}' "$E2E_TMP/free.out")
if [[ $rc == 0 && -n ${total:-} ]] && ((used >= 0 && free >= 0 && used + free <= total)); then
  e2e_pass "free: used $used + free $free <= total $total, none negative"
else
  e2e_fail "free" "exit $rc; output: $(cat "$E2E_TMP/free.out")"
fi

e2e_finish
