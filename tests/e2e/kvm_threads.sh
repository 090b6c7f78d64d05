#!/usr/bin/env bash
# e2e.kvm_threads: guest threads on the kvm platform (spec/kvm.md, "Threads"): a KVM vCPU per
# guest thread, run in turn by the controlling thread. Outputs and exit codes equal the ptrace
# platform's for
#  * `catload exec` of fixtures/thread_pool (its futex checks, and a pool of workers on a
#    condition variable answering requests) and of fixtures/go_fn (the Go runtime's threads,
#    which spin without syscalls: the time slice lets the others run);
#  * capture on kvm -> catimg build -> cold boot of thread_pool (threads parked in
#    pthread_cond_wait at the snapshot, re-created at boot), booted on both platforms, cold,
#    warm (the zygote pool) and fork (the threads re-created as vCPUs of each forked VM);
#  * go_fn captured on kvm, built and cold-booted;
#  * a thread bomb stopped at the thread limit (256 vCPUs in one VM).
# Kept cheap for the QEMU harness (tests/kvm/tests.txt); skips where this host's KVM does not
# pass the self-test.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

e2e_require_images
for f in hello thread_pool go_fn; do e2e_require_fixture "$f"; done
e2e_tmpdir
T=$E2E_TMP
source "$(dirname "${BASH_SOURCE[0]}")/lib/kvm_compare.sh"

REQS=$'hello\nworld\nabc\nx\nthe fifth request'
same pool checks "" -- exec -- "$FIXTURES/thread_pool" checks
same pool serve "$REQS" -- exec -- "$FIXTURES/thread_pool" serve
same go exec $'one two one\nnine-nine zero' -- exec -- "$FIXTURES/go_fn"

# Five threads at the snapshot: capture on kvm stops the workers (Interrupt, WaitAny) and
# writes one NT_PRSTATUS per thread; cold boot re-creates them as vCPUs.
if image pool kvm -- "$FIXTURES/thread_pool" serve; then
  e2e_check "pool: the checkpoint captured on kvm has one NT_PRSTATUS per thread (5)" \
    bash -c "[[ \$(readelf -n '$T/pool.core' | grep -c NT_PRSTATUS) == 5 ]]"
  same pool cold "$REQS" -- run "$T/pool.cfi"
  same pool warm $'a\nb' -- run --boot warm --repeat 2 "$T/pool.cfi"
  same pool fork $'a\nb' -- run --boot fork --repeat 2 "$T/pool.cfi"
fi

# The Go runtime's threads (sysmon spinning, GC workers, the netpoller) stopped at capture on
# kvm and re-created at a cold boot.
if image go kvm -- "$FIXTURES/go_fn"; then
  same go cold $'seven seven seven\nzzz' -- run "$T/go.cfi"
fi

# A thread bomb: a vCPU per thread up to the sandbox's thread limit, then EAGAIN, as on ptrace.
same pool bomb "" -- exec -- "$FIXTURES/thread_pool" bomb

e2e_finish
