#!/usr/bin/env bash
# event_mix: fixtures/event_mix (poll, epoll, timerfd, alarm with a handler, a SIGSEGV handler
# that siglongjmps, a socketpair between a parent and a forked child) gives the same stdout and
# exit code as natively under `catload exec` and after capture -> catimg build -> cold boot,
# for several requests. And the waits that park among guest threads: while one thread reads
# stdin, reads a timerfd or waits in rt_sigtimedwait, another thread runs (without parking
# they held the tracer thread: a wrong order, a 1000 s wait, or a SIGKILL).
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

e2e_require_images
e2e_require_fixture event_mix
e2e_tmpdir
EM=$FIXTURES/event_mix

e2e_compare exec.mix --rc 0 --input mix -- "$EM"
e2e_compare exec.each --rc 0 --input $'poll\nepoll\nsegv\nfork' -- "$EM"
e2e_compare exec.no-request --rc 3 -- "$EM"
e2e_compare exec.timerfd-thread --rc 0 -- "$EM" timerfd-thread
e2e_compare exec.sigwait-thread --rc 0 -- "$EM" sigwait-thread

# Captured at its first read of fd 0 (func-entry), built and cold-booted, several requests.
if e2e_image event_mix -- "$EM"; then
  e2e_image_compare event_mix mix --rc 0 --input mix
  e2e_image_compare event_mix mix-twice --rc 0 --input $'mix\nfork\nsegv'
  e2e_image_compare event_mix epoll-poll --rc 0 --input $'epoll\npoll'
fi

# A read of stdin by one thread lets another run: stdin's data comes a second late, and natively
# the worker has run by then (without parking it had not: the tracer waited in the read).
native=$( (sleep 1; echo data) | "$EM" stdin-thread)
guest=$( (sleep 1; echo data) | timeout -k 5 "$E2E_TIMEOUT" "$CATLOAD" exec -- "$EM" stdin-thread \
  2>"$E2E_TMP/stdin-thread.err")
if [[ $native == "$guest" ]]; then
  e2e_pass "stdin-thread: another thread runs while one reads stdin, as natively"
else
  e2e_fail "stdin-thread" "native: $(tr '\n' '|' <<<"$native") guest: $(tr '\n' '|' <<<"$guest")"
fi

e2e_finish
