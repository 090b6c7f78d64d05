#!/usr/bin/env bash
# processes: guest processes against native runs — execve (argv/envp, O_CLOEXEC, signal
# dispositions, #! scripts through their interpreter), and the hostile side: execve of a host
# path outside the rootfs, kill of a host pid. Under `catload exec` each case's stdout and exit
# code must equal the native run's in the same rootfs.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

BUSYBOX=${BUSYBOX:-/bin/busybox}
e2e_require_catload
e2e_require_fixture procs
e2e_tmpdir

R=$E2E_TMP/rootfs
mkdir -p "$R/bin" "$R/dev" "$R/proc" "$R/tmp"
cp "$FIXTURES/procs" "$R/procs"
HAVE_BB=0
if [[ -x $BUSYBOX ]] && file -L "$BUSYBOX" 2>/dev/null | grep -q 'statically linked'; then
  HAVE_BB=1
  cp "$BUSYBOX" "$R/bin/busybox"
  for a in sh echo cat tr sort wc head seq find xargs printf sleep kill true false; do
    ln -sf busybox "$R/bin/$a"
  done
fi
printf '#!/bin/sh\necho "script $0 got $# args: $*"\nexit 7\n' >"$R/script.sh"
printf '#!./procs after-spawn\n' >"$R/procs-script"
printf 'not executable\n' >"$R/plain.txt"
chmod +x "$R/script.sh" "$R/procs-script"

p() { # p NAME [e2e_compare options] -- ARGS...: the procs fixture in the rootfs
  local name=$1
  shift
  local -a opts=()
  while [[ $1 != -- ]]; do opts+=("$1"); shift; done
  shift
  e2e_compare "procs.$name" --root "$R" "${opts[@]}" -- "$R/procs" "$@"
}

# --- execve ---
p exec-self --rc 9 -- exec-self ./procs
# A #! line with an argument: the interpreter gets it, then the script's path.
p exec-shebang-arg --rc 6 -- exec-missing ./procs-script

# --- hostile: nothing outside the sandbox is reachable ---
# A host executable outside the rootfs: the guest's execve never finds it.
HOST_PROG=$E2E_TMP/host-only/prog
mkdir -p "${HOST_PROG%/*}"
printf '#!/bin/sh\necho ESCAPED\n' >"$HOST_PROG"
chmod +x "$HOST_PROG"
out=$("$CATLOAD" exec --rootfs "$R" -- "$R/procs" exec-missing "$HOST_PROG" 2>&1)
e2e_check "hostile: execve of a host path outside the rootfs is ENOENT ($out)" \
  test "$out" = "execve $HOST_PROG: ENOENT"
out=$("$CATLOAD" exec --rootfs "$R" -- "$R/procs" exec-missing "../../../../..$HOST_PROG" 2>&1)
e2e_check "hostile: execve through ../ stays in the rootfs ($out)" \
  test "$out" = "execve ../../../../..$HOST_PROG: ENOENT"

if [[ $HAVE_BB == 1 ]]; then
  sh() { # sh NAME [e2e_compare options] -- SCRIPT: busybox sh -c SCRIPT in the rootfs
    local name=$1
    shift
    local -a opts=()
    while [[ $1 != -- ]]; do opts+=("$1"); shift; done
    shift
    e2e_compare "sh.$name" --root "$R" "${opts[@]}" -- "$R/bin/busybox" sh -c "$@"
  }
  sh exec-echo --rc 0 -- 'exec ./bin/echo replaced by exec'
  sh exec-script --rc 7 -- 'exec ./script.sh one two'
  sh exec-not-executable --rc 126 -- 'exec ./plain.txt'
  sh exec-missing --rc 127 -- 'exec ./no-such-program'
else
  e2e_partial_skip "busybox sh cases: $BUSYBOX is not a static busybox (apt-get install busybox-static)"
fi

e2e_finish
