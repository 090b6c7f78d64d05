#!/usr/bin/env bash
# go_fn: a static Go program (fixtures/go_fn: goroutines, channels, a map; CGO_ENABLED=0, built
# with Debian's golang-go) gives the same output and exit code as natively under `catload exec`
# and after capture -> build -> cold boot (and fork boot), for several requests. Go's runtime
# starts threads (sysmon, GC workers) with clone(CLONE_THREAD), sleeps on futexes, preempts
# with SIGURG on an altstack and opens an epoll instance with a pipe for its timers, which is
# open at the func-entry point (the first read of stdin): capture must carry it.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

e2e_require_images
command -v go >/dev/null || e2e_skip "go (Debian's golang-go) is not installed (scripts/setup-deps.sh installs it)"
e2e_require_fixture go_fn
e2e_tmpdir
GFN=$FIXTURES/go_fn

e2e_compare exec.words --rc 0 --input $'one two one\nnine-nine zero\n\nx y z' -- "$GFN"
e2e_compare exec.no-request --rc 3 -- "$GFN"
if e2e_image go_fn -- "$GFN"; then
  e2e_image_compare go_fn words --rc 0 --input $'one two one\nnine-nine zero'
  e2e_image_compare go_fn other --rc 0 --input $'one-two-three-four five five\nzzz'
  # sfork of the multi-threaded runtime: each fork re-creates the template's other threads.
  e2e_image_compare go_fn fork --rc 0 --run-opt=--boot=fork --input $'one two one\nnine-nine zero'
  e2e_image_compare go_fn empty --rc 3
  e2e_image_compare go_fn restore --restore --rc 0 --input 'seven seven seven'
fi
e2e_finish
