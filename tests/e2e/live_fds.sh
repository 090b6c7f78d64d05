#!/usr/bin/env bash
# live_fds: eventfds, timerfds and an epoll instance open at the func-entry point are carried
# through capture -> build -> cold boot (and the conventional restore), with the state set
# during init: counters, an expired unread timer, a periodic one, an edge-triggered item
# already reported, a one-shot item already disarmed (fixtures/live_fds). Output and exit code
# equal native. Without the persisted LiveState, capture refuses the eventfd at fd 3.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

e2e_require_images
e2e_require_fixture live_fds
e2e_tmpdir
LFD=$FIXTURES/live_fds
ALL=$'wait\neventfd\ntimer\npipe\nwait\nrearm\nsignal\neventfd'

e2e_compare exec.all --rc 0 --input "$ALL" -- "$LFD"
e2e_compare exec.none --rc 3 -- "$LFD"
if e2e_image live_fds -- "$LFD"; then
  e2e_image_verify live_fds
  e2e_image_compare live_fds all --rc 0 --input "$ALL"
  e2e_image_compare live_fds wait-first --rc 0 --input $'wait\nwait'
  e2e_image_compare live_fds timer-again --rc 0 --input $'timer\nrearm\ntimer'
  e2e_image_compare live_fds empty --rc 3
  e2e_image_compare live_fds restore --restore --rc 0 --input "$ALL"
  # The image lists what it carries (catimg inspect names the kinds).
  # (Read whole, then matched: `inspect | grep -q` under pipefail fails when grep exits first.)
  listed=$("$CATIMG" inspect "$E2E_TMP/live_fds.cfi")
  if grep -qE '^ +9  epoll ' <<<"$listed" && grep -qE '^ +5  timerfd ' <<<"$listed"; then
    e2e_pass "inspect lists the eventfds, timerfds and the epoll instance"
  else
    e2e_fail "inspect" "no epoll/timerfd among the open fds: $("$CATIMG" inspect "$E2E_TMP/live_fds.cfi" | grep -A12 'open fds')"
  fi
fi
e2e_finish
