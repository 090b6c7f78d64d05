#!/usr/bin/env bash
# e2e.thread_signals: per-thread pending signals (issue 9, spec/abi.md "Signals"). `thread_pool
# signals` (fixtures/thread_pool/thread_signals.c, glibc and musl) gives the same stdout and
# exit code natively, under `catload exec` and after capture -> catimg build -> cold boot (its
# seven workers made during init, parked at a gate at the snapshot):
#  * pthread_kill(A, SIGUSR1) interrupts A's blocking pipe read (EINTR) and runs the handler in
#    A only, while B blocked in a read is not interrupted and the unblocked main thread does
#    not take it;
#  * pthread_kill(D, SIGUSR2) ends D's sigwait, not C's waiting for the same signal;
#  * kill(getpid(), SIGHUP) blocked by every thread but E is taken by E;
#  * timer_create(SIGEV_THREAD_ID) aimed at F: F's sigwaitinfo gets SI_TIMER, G (waiting for
#    the same signal) does not.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

e2e_require_catload
e2e_require_images
e2e_require_fixture thread_pool
e2e_require_fixture thread_pool_musl
e2e_tmpdir

for fx in thread_pool thread_pool_musl; do
  e2e_compare "thread_signals.$fx.exec" --rc 0 --input "request" -- "$FIXTURES/$fx" signals
done

if e2e_image thread_signals.image -- "$FIXTURES/thread_pool" signals; then
  e2e_image_compare thread_signals.image cold --rc 0 --input "request"
fi

e2e_finish
