#!/usr/bin/env bash
# e2e.threads: guest threads on the ptrace platform (issue 9). fixtures/thread_pool (glibc and
# musl pthreads) gives the same stdout and exit code natively and under `catload exec`: a pool
# of workers created during init and waiting on a condition variable answers requests; join,
# tids, futex wait/wake/bitset/cmp_requeue/wake_op, relative and absolute timeouts, EAGAIN. The
# same pool across capture -> catimg build -> cold boot (several requests) and restore, warm
# and fork boot (sfork re-creates the template's other threads in each fork). The
# hostile cases: futex on unmapped, read-only and misaligned memory, clone flags outside the
# thread set, threads racing on the fd table and on munmap, a thread bomb stopped by the
# thread limit in one line.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

e2e_require_catload
e2e_require_images
e2e_require_fixture thread_pool
e2e_require_fixture thread_pool_musl
e2e_tmpdir

REQS=$'hello\nworld\nabc\nx\nthe fifth request'
for fx in thread_pool thread_pool_musl; do
  EXE=$FIXTURES/$fx
  e2e_compare "threads.$fx.checks" --rc 0 -- "$EXE" checks
  e2e_compare "threads.$fx.pool" --rc 0 --input "$REQS" -- "$EXE" serve
done

# Workers created during init, parked in pthread_cond_wait at capture, re-created at boot.
if e2e_image threads.pool -- "$FIXTURES/thread_pool" serve; then
  e2e_image_compare threads.pool first --rc 0 --input "$REQS"
  e2e_image_compare threads.pool second --rc 0 --input $'one\ntwo\nthree\nfour\nfive\nsix'
  e2e_image_compare threads.pool restore --rc 0 --restore --input "$REQS"
  e2e_check "threads.pool: the checkpoint has one NT_PRSTATUS per thread (5)" \
    bash -c "[[ \$(readelf -n '$E2E_TMP/threads.pool.core' | grep -c NT_PRSTATUS) == 5 ]]"
  # Warm and fork boot re-create the threads as cold boot does: several instances in one
  # process, each answering as natively (its workers from the snapshot, not a previous
  # instance's or the template's: "worker 0" first and "served 2" every time).
  printf 'a\nb\n' | "$FIXTURES/thread_pool" serve >"$E2E_TMP/pool.native"
  for _ in 1 2 3; do cat "$E2E_TMP/pool.native"; done >"$E2E_TMP/pool.want"
  for mode in warm fork; do
    printf 'a\nb\n' | timeout -k 5 60 "$CATLOAD" run --boot $mode --repeat 3 --timeout 30 \
      "$E2E_TMP/threads.pool.cfi" >"$E2E_TMP/$mode.out" 2>"$E2E_TMP/$mode.err"
    rc=$?
    e2e_check "threads.pool $mode: three $mode boots answer as natively (exit $rc)" \
      bash -c "[[ $rc == 0 ]] && cmp -s '$E2E_TMP/pool.want' '$E2E_TMP/$mode.out'"
    [[ $rc == 0 ]] || e2e_show "$mode stderr" "$E2E_TMP/$mode.err" 10
  done
fi
if e2e_image threads.pool_musl -- "$FIXTURES/thread_pool_musl" serve; then
  e2e_image_compare threads.pool_musl first --rc 0 --input "$REQS"
fi

# Hostile: every attempt is refused with the errno Linux gives (or a stricter EINVAL for clone
# flags a sandbox thread may not have), and catload survives the races.
for fx in thread_pool thread_pool_musl; do
  out=$E2E_TMP/$fx.hostile
  timeout -k 5 120 "$CATLOAD" exec --timeout 100 -- "$FIXTURES/$fx" hostile >"$out.out" 2>"$out.err"
  rc=$?
  [[ $rc == 0 ]] || e2e_fail "threads.$fx.hostile.rc" "catload exited $rc: $(tail -3 "$out.err")"
  for want in "futex wait on unmapped: -1 Bad address" \
    "futex wake_op on read-only: -1 Bad address" \
    "futex on a misaligned word: -1 Invalid argument" \
    "clone with CLONE_NEWNET: -1 Invalid argument" \
    "clone with CLONE_PTRACE: -1 Invalid argument" \
    "races survived"; do
    e2e_check "threads.$fx.hostile: $want" grep -qxF "$want" "$out.out"
  done
done

# A thread bomb: clone fails with EAGAIN at the thread limit, said once on stderr.
out=$E2E_TMP/bomb
timeout -k 5 120 "$CATLOAD" exec --timeout 100 -- "$FIXTURES/thread_pool" bomb >"$out.out" 2>"$out.err"
rc=$?
[[ $rc == 0 ]] || e2e_fail "threads.bomb.rc" "catload exited $rc: $(tail -3 "$out.err")"
e2e_check "threads.bomb: pthread_create fails with EAGAIN at the limit" \
  grep -qxF "pthread_create failed after 100 or more threads: Resource temporarily unavailable" "$out.out"
e2e_check "threads.bomb: one clear line names the limit" \
  bash -c "[[ \$(grep -c 'thread limit of 256 guest threads reached' '$out.err') == 1 ]]"

e2e_finish
