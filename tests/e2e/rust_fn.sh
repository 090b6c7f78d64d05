#!/usr/bin/env bash
# rust_fn: a static Rust program on std (fixtures/rust_fn, built with Debian's rustc) gives the
# same output and exit code as natively under `catload exec` and after capture -> build ->
# cold boot, for several requests. Rust's runtime polls fds 0-2 before main and aborts when
# poll is ENOSYS, so this fails without the sandbox's poll.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

e2e_require_images
[[ -x /usr/bin/rustc ]] || e2e_skip "Debian's rustc (/usr/bin/rustc) is not installed (scripts/setup-deps.sh installs it)"
e2e_require_fixture rust_fn
e2e_tmpdir
RFN=$FIXTURES/rust_fn

e2e_compare exec.words --rc 0 --input $'one two one\nnine-nine zero\n\nx y z' -- "$RFN"
e2e_compare exec.no-request --rc 0 -- "$RFN"
if e2e_image rust_fn -- "$RFN"; then
  e2e_image_compare rust_fn words --rc 0 --input $'one two one\nnine-nine zero'
  e2e_image_compare rust_fn other --rc 0 --input $'one-two-three-four five five\nzzz'
  e2e_image_compare rust_fn empty --rc 0
  e2e_image_compare rust_fn restore --restore --rc 0 --input 'seven seven seven'
fi
e2e_finish
