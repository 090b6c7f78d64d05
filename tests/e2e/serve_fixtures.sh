#!/usr/bin/env bash
# e2e.serve_fixtures: the function fixtures that e2e.serve, e2e.serve_functions and
# e2e.serve_threads do not serve answer through `catload serve` with cold, warm and fork boot
# exactly as a native run of the same binary does (issue 8: "every fixture"): the same stdout and
# exit code (X-Catalyzer-Exit-Code). Go (a multi-threaded runtime with an epoll at func-entry),
# Rust on std (with and without a worker thread alive at func-entry), musl, a 1.5M-key index
# built at init (an answer bigger than a pipe buffer), an explicit func-entry point, and the
# event mix (poll, epoll, timerfd, alarm, a SIGSEGV handler, a socketpair with a child process
# per request). One server serves them all. A fixture that this machine cannot build (no Go, no
# Debian rustc) is a partial skip saying why.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib/serve_server.sh"
for f in musl_hello index_init explicit_entry event_mix; do e2e_require_fixture "$f"; done

images=()
# add NAME [e2e_image options] -- EXE ARGS...: captured and built, then served.
add() {
  e2e_image "$@" && images+=("$T/$1.cfi")
}
optional() {  # optional FIXTURE WHY-MISSING: true if the fixture was built here
  [[ -x $FIXTURES/$1 ]] && return 0
  e2e_partial_skip "$1 is not built ($2)"
  return 1
}
add musl_hello --env GREETING=bonjour -- "$FIXTURES/musl_hello"
add index_init -- "$FIXTURES/index_init"
add explicit_entry --catload-opt --entry=explicit -- "$FIXTURES/explicit_entry"
add event_mix -- "$FIXTURES/event_mix"
optional go_fn "Debian's golang-go is not installed" && add go_fn -- "$FIXTURES/go_fn"
optional rust_fn "Debian's rustc is not installed" && add rust_fn -- "$FIXTURES/rust_fn"
optional rust_threads_fn "Debian's rustc is not installed" &&
  add rust_threads_fn -- "$FIXTURES/rust_threads_fn"
((${#images[@]} > 0)) || e2e_finish

start_server fixtures --max-instances 2 --timeout 30 "${images[@]}"

# served NAME: whether NAME's image was built (a failed build has already failed the test).
served() { [[ " ${images[*]} " == *" $T/$1.cfi "* ]]; }

# same NAME CASE INPUT: native stdout and exit code, then the same request through serve in
# each boot mode.
same() {
  local name=$1 case=$2 input=$3 mode
  served "$name" || return 0
  printf '%s' "$input" >"$T/$name.$case.in"
  (eval "${E2E_IMG_NATIVE[$name]}") <"$T/$name.$case.in" >"$T/$name.$case.native" 2>/dev/null
  local native_rc=$?
  for mode in cold warm fork; do
    curl -s -m 60 -o "$T/$name.$case.$mode" -D "$T/hdrs" --data-binary @"$T/$name.$case.in" \
      "$URL/invoke/$name?boot=$mode" >/dev/null
    local code rc result
    # The last status line: curl asks a large body to be let through first (100 Continue).
    code=$(awk '/^HTTP\// { c = $2 } END { print c }' "$T/hdrs")
    rc=$(grep -i '^X-Catalyzer-Exit-Code:' "$T/hdrs" | cut -d' ' -f2 | tr -d '\r')
    result=different
    cmp -s "$T/$name.$case.native" "$T/$name.$case.$mode" && result=same
    e2e_check "$name $case boot=$mode: 200 with native's stdout and exit code $native_rc (got $code, exit '$rc', $result stdout)" \
      test "$code" = 200 -a "$rc" = "$native_rc" -a "$result" = same
  done
}

same musl_hello world $'world\n'
same musl_hello empty ''
same index_init lookups $'idx 0\nidx 1\nidx 1499999\nhas 622b6655a050c46c\nhas 0x1234\nstats\n'
same index_init errors $'idx 1500000\nhas zz\nbogus\n'
same index_init many-queries "$(seq 0 7 1499999 | sed 's/^/idx /')"$'\n'
same explicit_entry numbers $'0\n12\n1000000\n'
same explicit_entry error $'x\n-1\n'
same event_mix mix-twice $'mix\nfork\nsegv\n'
same event_mix epoll-poll $'epoll\npoll\n'
same go_fn words $'one two one\nnine-nine zero\n'
same go_fn empty ''
same rust_fn words $'one two one\nnine-nine zero\n'
same rust_fn other $'one-two-three-four five five\nzzz\n'
same rust_threads_fn words $'one two one\nnine-nine zero\n'
same rust_threads_fn empty ''

kill -TERM "$SERVER_PID"
wait "$SERVER_PID"
rc=$?
e2e_check "SIGTERM: the server exits 0 (got $rc)" test "$rc" = 0
e2e_finish
