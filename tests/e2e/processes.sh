#!/usr/bin/env bash
# processes: guest processes against native runs — execve (argv/envp, O_CLOEXEC, signal
# dispositions, #! scripts through their interpreter), fork/vfork/posix_spawn, wait4/waitid,
# SIGCHLD, process groups, pipes and a socketpair between parent and child, busybox sh scripts
# (pipelines, $(...), while read, trap, background jobs and wait, find -exec, xargs) and
# bash-static; under `catload exec` and after capture -> catimg build -> cold boot (several
# requests), each case's stdout and exit code equal to the native run's in the same rootfs.
# Hostile: a fork bomb ends at --max-procs with one log line, execve of a host path outside
# the rootfs is ENOENT, kill of a host pid is ESRCH and the host process lives on.
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

# --- fork, wait, signals and I/O between processes ---
p fork-wait --rc 0 -- fork-wait
p vfork-spawn --rc 0 -- vfork ./procs
p socketpair --rc 0 -- socketpair
p pipe-eof --rc 0 -- pipe-eof

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

# A fork bomb ends at the process limit: fork fails with EAGAIN, the log says so once.
"$CATLOAD" exec --max-procs 8 --timeout 60 --rootfs "$R" -- "$R/procs" fork-bomb \
  >"$E2E_TMP/bomb.out" 2>"$E2E_TMP/bomb.err"
rc=$?
e2e_check "hostile: a fork bomb ends at --max-procs 8 (exit $rc: $(cat "$E2E_TMP/bomb.out"))" \
  test "$rc" = 0 -a "$(cat "$E2E_TMP/bomb.out")" = "fork refused: EAGAIN"
e2e_check "hostile: the fork bomb's limit is logged in one line ($(wc -l <"$E2E_TMP/bomb.err") lines)" \
  test "$(grep -c -- '--max-procs' "$E2E_TMP/bomb.err")" = 1
"$CATLOAD" exec --timeout 60 --rootfs "$R" -- "$R/procs" fork-bomb >"$E2E_TMP/bomb64.out" 2>&1
e2e_check "hostile: a fork bomb ends at the default limit too ($(head -c 200 "$E2E_TMP/bomb64.out"))" \
  grep -q "fork refused: EAGAIN" "$E2E_TMP/bomb64.out"
# kill of a host pid: ESRCH, and the host process is untouched.
sleep 60 &
victim=$!
out=$("$CATLOAD" exec --rootfs "$R" -- "$R/procs" kill "$victim" 2>&1)
e2e_check "hostile: kill of host pid $victim from the guest is ESRCH ($out)" test "$out" = "kill: -1 ESRCH"
e2e_check "hostile: host process $victim is still alive after the guest's kill" kill -0 "$victim"
kill "$victim" 2>/dev/null
wait "$victim" 2>/dev/null

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
  mkdir -p "$R/data/sub"
  echo one >"$R/data/a.txt"
  echo two >"$R/data/sub/b.txt"
  sh pipeline --rc 0 -- 'echo hello world | tr a-z A-Z; seq 1 100 | sort -rn | head -3'
  sh pipeline-status --rc 0 -- 'false | true; echo $?; true | false; echo $?'
  sh command-subst --rc 0 -- 'x=$(echo sub; echo two); echo "[$x] $(seq 5 | wc -l)"'
  # `while read` as a pipeline's last stage: busybox's read polls fd 0 before every byte, and
  # the reader often polls before seq has written. When that poll waited on the tracer thread
  # the writer never ran again (about one run in three hung); now it parks among the tasks
  # (poll_parking.h). Several runs, each with a short timeout, so that a race that loses one run
  # in three fails here (0.7^12 < 2%) and a hang costs seconds, not minutes.
  for run in $(seq 1 12); do
    E2E_TIMEOUT=20 sh "while-read.$run" --rc 0 -- 'seq 3 | while read l; do echo "line $l"; done'
  done
  sh while-read-subst --rc 0 -- 'x=$(seq 40 | while read l; do echo "<$l>"; done | wc -l); echo "$x lines"'
  sh trap-signal --rc 0 -- 'trap "echo got USR1" USR1; kill -USR1 $$; echo after'
  # The signal comes from another guest process while the shell waits for it.
  sh trap-from-child --rc 0 -- 'trap "echo got USR1" USR1; (sleep 0.05; kill -USR1 $$) & wait; echo after'
  sh background-wait --rc 0 -- '(exit 3) & wait $!; echo "status $?"; sleep 0.1 & wait; echo done'
  sh background-many --rc 0 --sort-output -- 'for i in 1 2 3; do (echo sub $i) & done; wait; echo all'
  sh find-exec --rc 0 -- 'find data -name "*.txt" -exec cat {} \; | sort'
  sh xargs --rc 0 -- 'find data -type f | sort | xargs cat; echo a b c | xargs -n1 echo x'
  sh exit-status --rc 5 -- 'sh -c "exit 5"'
  sh kill-child --rc 0 -- 'sleep 5 & kill $!; wait $!; echo "killed: $?"'
  # The same script as a function image: init forks (pipelines, $(...)) before the first read
  # of fd 0, each request forks again after the cold boot.
  if [[ -n ${CATIMG:-} ]]; then
    e2e_require_images
    cat >"$R/fn.sh" <<'SH'
greeting=$(echo init done | tr a-z A-Z)
count=$(seq 1 10 | wc -l)
while read line; do
  echo "$greeting: $(echo "$line" | tr a-z A-Z) ($count)"
done
echo "$line" | sort
SH
    e2e_image sh-fn --root "$R" -- "$R/bin/busybox" sh fn.sh
    e2e_image_compare sh-fn first --input $'alpha\nbeta' --rc 0
    e2e_image_compare sh-fn second --input 'gamma' --rc 0
    e2e_image_compare sh-fn third --input $'x\ny\nz' --rc 0
    # Everything else of the shell list after a cold boot: a trap set before the capture runs on
    # a signal from the shell itself and from a child while the shell waits, background jobs and
    # wait (with a status), find -exec and xargs, a pipeline into `while read`. The jobs write
    # to tmp/ (the rootfs's natively, the guest's /tmp in the sandbox) so the output's order is
    # fixed.
    cat >"$R/jobs.sh" <<'SH'
PATH=$PWD/bin
banner=$(seq 1 4 | sort -rn | head -1)
trap 'echo "trapped USR1"' USR1
n=0
while read line; do
  n=$((n + 1))
  echo "$n: $(echo "$line" | tr a-z A-Z)"
  echo "$line" | while read w rest; do echo "first word $w"; done
done
. ./jobs-common.sh
echo a b c | xargs -n1 echo x
echo "banner $banner, $n lines"
SH
    # The part after the requests' reads, the same for busybox sh and bash (both source it).
    cat >"$R/jobs-common.sh" <<'SH'
kill -USR1 $$
(sleep 0.05; kill -USR1 $$) &
wait
(exit 3) &
wait $!
echo "background status $?"
for i in 1 2 3; do (echo "job $i" >tmp/job$i) & done
wait
cat tmp/job1 tmp/job2 tmp/job3
find data -name '*.txt' -exec cat {} \; | sort
find data -type f | sort | xargs cat
SH
    e2e_image sh-jobs --root "$R" -- "$R/bin/busybox" sh jobs.sh
    e2e_image_compare sh-jobs first --input $'alpha beta\ngamma' --rc 0
    e2e_image_compare sh-jobs second --input 'delta' --rc 0
    e2e_image_compare sh-jobs third --input $'x y z\n\nw' --rc 0
  fi
else
  e2e_partial_skip "busybox sh cases: $BUSYBOX is not a static busybox (apt-get install busybox-static)"
fi

if [[ -x ${BASH_STATIC:=/bin/bash-static} ]]; then
  cp "$BASH_STATIC" "$R/bin/bash"
  b() {
    local name=$1
    shift
    local -a opts=()
    while [[ $1 != -- ]]; do opts+=("$1"); shift; done
    shift
    e2e_compare "bash.$name" --root "$R" "${opts[@]}" -- "$R/bin/bash" -c "$@"
  }
  b pipeline --rc 0 -- 'echo hi there | ./bin/tr a-z A-Z; echo ${PIPESTATUS[@]}'
  b subst-and-jobs --rc 0 -- 'x=$(./bin/seq 4 | ./bin/wc -l); (exit 7) & wait $!; echo "$x $?"'
  b exec-script --rc 7 -- './script.sh a b c'
  # The cases below run busybox applets from the rootfs (as the ones above run its tr and seq).
  for run in 1 2 3 4 5 6; do
    E2E_TIMEOUT=20 b "while-read.$run" --rc 0 -- './bin/seq 3 | while read -r l; do echo "line $l"; done'
  done
  b trap-from-child --rc 0 -- 'trap "echo got USR1" USR1; (./bin/sleep 0.05; kill -USR1 $$) & wait; echo after'
  b find-xargs --rc 0 -- './bin/find data -name "*.txt" -exec ./bin/cat {} \; | ./bin/sort; ./bin/find data -type f | ./bin/sort | ./bin/xargs ./bin/cat'
  # bash with its defaults (no options, a script file) as a function image: init before the
  # first read of fd 0, then per request the same list as the busybox image, in bash's words.
  if [[ -n ${CATIMG:-} && $HAVE_BB == 1 ]]; then
    cat >"$R/jobs.bash" <<'SH'
PATH=$PWD/bin
banner=$(seq 1 4 | sort -rn | head -1)
trap 'echo "trapped USR1"' USR1
declare -A seen
n=0
while read -r line; do
  n=$((n + 1))
  echo "$n: $(tr a-z A-Z <<<"$line")"
  seen[$line]=1
done
true | (exit 2) | cat
echo "pipestatus ${PIPESTATUS[*]}"
. ./jobs-common.sh
echo "banner $banner, $n lines, ${#seen[@]} distinct"
SH
    e2e_image bash-jobs --root "$R" -- "$R/bin/bash" jobs.bash
    e2e_image_compare bash-jobs first --input $'alpha beta\ngamma\nalpha beta' --rc 0
    e2e_image_compare bash-jobs second --input 'delta' --rc 0
    e2e_image_compare bash-jobs third --input $'x\ny\nx\nz' --rc 0
  fi
else
  e2e_partial_skip "bash-static cases: $BASH_STATIC not found (apt-get install bash-static)"
fi

e2e_finish
