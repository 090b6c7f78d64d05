#!/usr/bin/env bash
# rust_threads_fn: a static Rust program on std threads (fixtures/rust_threads_fn, Debian's
# rustc, +crt-static): shard threads spawned and joined during init, a worker thread alive at
# the func-entry point (blocked on a channel, that is a futex), scoped threads per request. Same
# output and exit code as natively under `catload exec` and after capture -> build -> cold boot
# and fork boot.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

e2e_require_images
[[ -x /usr/bin/rustc ]] || e2e_skip "Debian's rustc (/usr/bin/rustc) is not installed (scripts/setup-deps.sh installs it)"
e2e_require_fixture rust_threads_fn
e2e_tmpdir
RFN=$FIXTURES/rust_threads_fn

e2e_compare exec.words --rc 0 --input $'one two one\nnine-nine zero\n\nx y z' -- "$RFN"
e2e_compare exec.no-request --rc 3 -- "$RFN"
if e2e_image rust_threads_fn -- "$RFN"; then
  e2e_image_compare rust_threads_fn words --rc 0 --input $'one two one\nnine-nine zero'
  e2e_image_compare rust_threads_fn other --rc 0 --input $'one-two-three-four five five\nzzz'
  # sfork of the multi-threaded runtime: each fork re-creates the template's other threads.
  e2e_image_compare rust_threads_fn fork --rc 0 --run-opt=--boot=fork --input $'one two one\nnine-nine zero'
  e2e_image_compare rust_threads_fn empty --rc 3
  e2e_image_compare rust_threads_fn restore --restore --rc 0 --input 'seven seven seven'
fi
e2e_finish
