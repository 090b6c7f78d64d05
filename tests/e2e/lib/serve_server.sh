# Shared by the e2e scripts of `catload serve` (serve.sh, serve_lifecycle.sh): the checks that
# serve can run at all, a private temp dir ($T), and start_server with cleanup at exit.
# Sourced after lib/common.sh.
e2e_require_images
e2e_require_fixture hello
SERVE_BIN=$(dirname "$CATLOAD")/catload-serve
[[ -x $SERVE_BIN ]] || e2e_setup_fail "$SERVE_BIN is missing (build the catload-serve target)"
command -v curl >/dev/null || e2e_setup_fail "curl is missing (scripts/setup-deps.sh installs it)"
e2e_tmpdir
T=$E2E_TMP

SERVER_PIDS=()
cleanup() {
  local p
  for p in "${SERVER_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
  [[ ${E2E_KEEP:-0} == 1 ]] || rm -rf "$T"
}
trap cleanup EXIT

# start_server NAME OPTIONS... IMAGES...: starts `catload serve --listen 127.0.0.1:0` with its
# log in $T/NAME.log and its stdout on $T/NAME.out (every shell shares the server's fd table,
# so the processes holding that file open are the server and its shells); sets SERVER_PID and
# URL once it listens.
start_server() {
  local name=$1
  shift
  "$CATLOAD" serve --listen 127.0.0.1:0 "$@" >"$T/$name.out" 2>"$T/$name.log" &
  SERVER_PID=$!
  SERVER_PIDS+=("$SERVER_PID")
  local i
  for i in $(seq 100); do
    URL=$(grep -o 'listening on http://[0-9.:]*' "$T/$name.log" | sed 's/listening on //')
    [[ -n $URL ]] && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.05
  done
  e2e_show "$name log" "$T/$name.log" 20
  e2e_setup_fail "catload serve ($name) did not start listening"
}
