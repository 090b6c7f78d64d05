#!/usr/bin/env bash
# e2e.build_cleanup: `catimg build` leaves no temporary file behind. SIGTERM (and SIGINT) during
# a one-step build removes its temporaries (the intermediate checkpoint, the half-written
# image); after a SIGKILL, the stale temporaries are removed by the next build of the same
# output, and only they: files of another naming, of another target, or whose writer still
# holds its lock are left alone (format/base/temp_file.h, spec/func-image.md "Writing").
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

[[ -x ${CATIMG:-} ]] || { echo "FAIL: catimg not built (CATIMG=${CATIMG:-unset})"; exit 1; }
e2e_require_fixture hostile
e2e_require_fixture index_init
e2e_require_fixture hello
e2e_tmpdir
OUT=$E2E_TMP/out
mkdir -p "$OUT"

# Our temporaries of $OUT/fn.cfi (what the writers name them; see temp_file.h).
temps() { find "$OUT" -maxdepth 1 -name '.*fn.cfi.tmp-*' -printf '%f %s\n'; }
# Waits up to $2 s for a temporary of more than $1 bytes ("" = any); true if one appeared.
wait_temp() {
  local size=() tries=$(($2 * 200))
  [[ -n $1 ]] && size=(-size +"$1"c)
  while ((tries-- > 0)); do
    if find "$OUT" -maxdepth 1 -name '.*fn.cfi.tmp-*' "${size[@]}" | grep -q .; then return 0; fi
    kill -0 "$BUILD_PID" 2>/dev/null || return 1
    sleep 0.005
  done
  return 1
}
# A background job of a script starts with SIGINT ignored (and catimg keeps an inherited
# SIG_IGN, as nohup asks): env gives it back its default.
start_build() {
  env --default-signal=INT,TERM,HUP "$CATIMG" build -q -o "$OUT/fn.cfi" -- "$@" </dev/null \
    >"$E2E_TMP/build.out" 2>"$E2E_TMP/build.err" &
  BUILD_PID=$!
}
# Waits for the build (at most 60 s: then it is killed and counted as hung, status 999).
finish_build() {
  local tries=600
  while kill -0 "$BUILD_PID" 2>/dev/null && ((tries-- > 0)); do sleep 0.1; done
  if kill -0 "$BUILD_PID" 2>/dev/null; then
    kill -KILL "$BUILD_PID"
    wait "$BUILD_PID" 2>/dev/null
    BUILD_RC=999
    e2e_fail "catimg build still running 60 s after it should have ended (killed)"
    return
  fi
  wait "$BUILD_PID" 2>/dev/null # (bash would report a SIGKILL-ed job on stderr)
  BUILD_RC=$?
}

# --- SIGTERM / SIGINT while the guest initializes: the intermediate checkpoint's temporary
# exists from the start (a guest that sleeps forever holds the build there) ---
for sig in TERM INT; do
  start_build "$FIXTURES/hostile" sleep nanosleep
  if wait_temp "" 10; then
    kill -"$sig" "$BUILD_PID"
    finish_build
    left=$(temps)
    e2e_check "SIG$sig during capture: catimg dies of it (status $BUILD_RC)" \
      test "$BUILD_RC" -ne 0
    e2e_check "SIG$sig during capture: no temporary left (${left:-none})" test -z "$left"
  else
    kill -KILL "$BUILD_PID" 2>/dev/null
    finish_build
    e2e_fail "SIG$sig during capture: no temporary ever appeared in $OUT"
  fi
done

# --- SIGTERM while the 50 MB checkpoint or image is being written (index_init): wait for a
# temporary with data in it. The write takes a fraction of a second, so a try whose build
# ended first is repeated. ---
caught=0
for try in 1 2 3 4 5; do
  rm -f "$OUT"/fn.cfi
  start_build "$FIXTURES/index_init"
  if wait_temp 1048576 60; then
    size=$(temps | awk '{ if ($2 > m) m = $2 } END { print m }')
    kill -TERM "$BUILD_PID"
    finish_build
    left=$(temps)
    e2e_check "SIGTERM while writing ($size bytes written, try $try): no temporary left (${left:-none})" \
      test -z "$left"
    caught=1
    break
  fi
  finish_build
done
e2e_check "SIGTERM while writing: caught a build mid-write in 5 tries" test "$caught" = 1

# --- SIGKILL: the temporary stays (nothing can run), and the next build removes it ---
start_build "$FIXTURES/hostile" sleep nanosleep
wait_temp "" 10
kill -KILL "$BUILD_PID"
finish_build
stale=$(temps)
e2e_check "SIGKILL: the killed build's temporary is still there (${stale:-none})" test -n "$stale"
# Decoys the next build must leave alone: another target's temporary, a name not of our
# pattern, and a temporary whose writer is alive (holds its flock).
touch "$OUT/.other.cfi.tmp-AbC123" "$OUT/.fn.cfi.tmp-short" "$OUT/fn.cfi.tmp.XyZ789"
exec 9>"$OUT/.fn.cfi.tmp-Live01"
flock -x 9 # this script is that writer: it holds the lock until fd 9 closes
"$CATIMG" build -q -o "$OUT/fn.cfi" -- "$FIXTURES/hello" </dev/null >"$E2E_TMP/next.out" 2>&1
rc=$?
e2e_check "SIGKILL: the next build succeeds (status $rc)" test "$rc" -eq 0
for f in $stale; do
  case $f in [0-9]*) continue ;; esac # sizes from temps()
  e2e_check "SIGKILL: the next build removed the stale $f" test ! -e "$OUT/$f"
done
for f in .other.cfi.tmp-AbC123 .fn.cfi.tmp-short fn.cfi.tmp.XyZ789 .fn.cfi.tmp-Live01; do
  e2e_check "SIGKILL: the next build left $f alone" test -e "$OUT/$f"
done
exec 9>&-
e2e_check "the image built is there" test -s "$OUT/fn.cfi"

e2e_finish
