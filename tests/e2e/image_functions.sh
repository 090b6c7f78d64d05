#!/usr/bin/env bash
# image_functions: for every function fixture, unmodified busybox awk, the Lua function and the
# SQLite function, `catload capture` -> `catimg build` -> `catload run` gives the same stdout and
# exit code as a native run, for several different requests per image, every run booted from
# the same snapshot (counter_fn: nothing a run writes is seen by the next). Also `catload
# restore CORE` (the conventional path) for one request each, `catimg verify` and
# `catimg inspect --json` on every image, and capture's error when the program never reaches
# its func-entry point. The run limits (--max-output, --cpu-limit) are per invocation: a booted
# instance takes those of the command that boots it, a capture those of the capture.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

BUSYBOX=${BUSYBOX:-/bin/busybox}
e2e_require_images
for f in hello hello_pie musl_hello index_init lua_fn sqlite_fn counter_fn explicit_entry \
  state_objects; do
  e2e_require_fixture "$f"
done
[[ -f $FIXTURES/function.lua ]] || e2e_setup_fail "$FIXTURES/function.lua is missing (build the lua_fn_script target)"
e2e_tmpdir

# image NAME [e2e_image options] -- EXE ARGS...: capture + build, then verify + inspect.
# Returns 1 if there is no image to run (the failure is already counted).
image() {
  e2e_image "$@" || return 1
  e2e_image_verify "$1"
}

# --- hello, hello_pie: one request line per run; glibc static and static-pie ---
for exe in hello hello_pie; do
  if image "$exe" -- "$FIXTURES/$exe"; then
    e2e_image_compare "$exe" world --rc 0 --input "world"
    e2e_image_compare "$exe" spaces --rc 0 --input "  two words, punctuation!  "
    e2e_image_compare "$exe" empty-stdin --rc 0
    e2e_image_compare "$exe" multiline --rc 0 --input $'first\nsecond\nthird'
    e2e_image_compare "$exe" restore --restore --rc 0 --input "restored"
  fi
done

# --- per-invocation limits: `run` and `restore` apply their own --max-output ---
if [[ -s $E2E_TMP/hello.cfi ]]; then
  e2e_image_run hello max-output "world" --max-output 4
  e2e_check "hello: catload run --max-output 4 ends by SIGXFSZ, exit 153 (got $E2E_RC): $E2E_CMD" \
    test "$E2E_RC" = 153
  e2e_check "hello: catload run --max-output 4 lets 4 bytes out ('$(cat "$E2E_TMP/hello.max-output.out")')" \
    test "$(cat "$E2E_TMP/hello.max-output.out")" = "hell"
  echo world | timeout -k 5 "$E2E_TIMEOUT" "$CATLOAD" restore --max-output 4 "$E2E_TMP/hello.core" \
    >"$E2E_TMP/hello.restore-max-output.out" 2>/dev/null
  rc=$?
  e2e_check "hello: catload restore --max-output 4 ends by SIGXFSZ, exit 153 (got $rc)" test "$rc" = 153
fi

# --- musl_hello: musl start-up; the environment is the one given at capture ---
if image musl_hello --env GREETING=bonjour --env OTHER=x -- "$FIXTURES/musl_hello"; then
  e2e_image_compare musl_hello world --rc 0 --input "world"
  e2e_image_compare musl_hello words --rc 0 --input "zyx cba 123"
  e2e_image_compare musl_hello empty-stdin --rc 0
  long=$(printf 'abcdefghij%.0s' {1..300})
  e2e_image_compare musl_hello long-line --rc 0 --input "$long"
  e2e_image_compare musl_hello restore --restore --rc 0 --input "restored"
fi

# --- index_init: a 1.5M-key hash table built at init ---
if image index_init -- "$FIXTURES/index_init"; then
  e2e_image_compare index_init lookups --rc 0 \
    --input $'idx 0\nidx 1\nidx 1499999\nhas 622b6655a050c46c\nhas 0x1234\nstats'
  e2e_image_compare index_init errors --rc 0 --input $'idx 1500000\nhas zz\nbogus\n'
  e2e_image_compare index_init range --rc 0 --input $'range 0 1000\nrange 1499000 2000000'
  e2e_image_compare index_init no-queries --rc 0
  # More output than a pipe buffer holds.
  seq 0 7 1499999 | sed 's/^/idx /' >"$E2E_TMP/index_queries.txt"
  e2e_image_compare index_init many-queries --rc 0 --stdin "$E2E_TMP/index_queries.txt"
  e2e_image_compare index_init restore --restore --rc 0 --input $'stats\nidx 42'
fi

# --- lua_fn: the script is reached through a read-only mount recorded at capture ---
if image lua_fn --mount "$FIXTURES:/fn:ro" -- "$FIXTURES/lua_fn" /fn/function.lua; then
  e2e_image_compare lua_fn primes --rc 0 --input $'prime 2\nprime 1999993\nprime 1000000'
  e2e_image_compare lua_fn nth --rc 0 --input $'nth 1\nnth 148933'
  e2e_image_compare lua_fn words --rc 0 --input $'word abc\nprefix ab\nprefix q'
  e2e_image_compare lua_fn other --rc 0 --input $'hello world\n\nprime x'
  e2e_image_compare lua_fn no-requests --rc 0
  e2e_image_compare lua_fn restore --restore --rc 0 --input $'nth 1000\nword abc'
fi

# --- sqlite_fn: a 200k-row indexed in-memory SQLite database built at init ---
if image sqlite_fn -- "$FIXTURES/sqlite_fn"; then
  e2e_image_compare sqlite_fn count --rc 0 --input $'count qnrwablk\ncount ndbgq\ncount nosuchword'
  e2e_image_compare sqlite_fn sum --rc 0 --input $'sum 0 1000\nsum 100 200000\nsum 5 4'
  e2e_image_compare sqlite_fn get --rc 0 --input $'get 0\nget 199999\nget 500000'
  e2e_image_compare sqlite_fn top --rc 0 --input 'top 20'
  # A write, then (in the next run, from the same snapshot) the row count must be back to 200000.
  e2e_image_compare sqlite_fn insert --rc 0 --input $'insert zzz 1 2\ninsert zzz 3 4\nrows\ncount zzz'
  e2e_image_compare sqlite_fn after-insert --rc 0 --input $'rows\ncount zzz'
  e2e_image_compare sqlite_fn exit-code --rc 7 --input $'rows\nexit 7\nrows'
  e2e_image_compare sqlite_fn bad-query --rc 1 --input $'bogus\nrows'
  e2e_image_compare sqlite_fn restore --restore --rc 0 --input $'top 3\nget 7'
fi

# --- counter_fn: init writes /tmp/counter = 0; each request increments it ---
# The guest's counter lives in its overlay; the native runs write into a scratch root instead.
mkdir -p "$E2E_TMP/counter-native/tmp" "$E2E_TMP/counter-guest/tmp"
if image counter_fn --root "$E2E_TMP/counter-native" --guest-root "$E2E_TMP/counter-guest" \
  -- "$FIXTURES/counter_fn" @ROOT@/tmp/counter; then
  for i in 1 2 3; do
    if e2e_image_compare counter_fn "run$i" --rc 0 --input "request $i"; then
      e2e_check "counter_fn.run$i prints 'count 1' (starts from the snapshot, not the last run)" \
        grep -qx 'count 1' "$E2E_TMP/counter_fn.run$i.guest.out"
    fi
  done
  e2e_image_compare counter_fn three-requests --rc 0 --input $'a\nb\nc'
  e2e_image_compare counter_fn after-three --rc 0 --input 'again'
  e2e_check "counter_fn.after-three prints 'count 1'" \
    grep -qx 'count 1' "$E2E_TMP/counter_fn.after-three.guest.out"
  e2e_image_compare counter_fn restore --restore --rc 0 --input 'restored'
  e2e_image_compare counter_fn restore-again --restore --rc 0 --input 'restored again'
fi

# --- explicit_entry: the func-entry point is cat_func_entry(), before GREETING is read ---
R=$E2E_TMP/explicit-root
mkdir -p "$R"
echo "hi" >"$R/greeting.txt"
if image explicit_entry --catload-opt --entry=explicit -- "$FIXTURES/explicit_entry"; then
  e2e_image_compare explicit_entry numbers --rc 0 --input $'0\n12\n1000000'
  e2e_image_compare explicit_entry error --rc 0 --input $'x\n-1'
  e2e_image_compare explicit_entry empty-stdin --rc 0
  e2e_image_compare explicit_entry restore --restore --rc 0 --input '99'
fi
if image explicit_greeting --root "$R" --catload-opt --entry=explicit \
  -- "$FIXTURES/explicit_entry" @ROOT@/greeting.txt; then
  e2e_image_compare explicit_greeting before-change --rc 0 --input $'7\n8'
  # The file is read after cat_func_entry, so every instance reads it afresh: a change made
  # after capture must show (the snapshot was taken at the explicit point, not at stdin).
  echo "greetings, changed after capture" >"$R/greeting.txt"
  e2e_image_compare explicit_greeting after-change --rc 0 --input $'7\n8'
  e2e_image_compare explicit_greeting restore-after-change --restore --rc 0 --input '9'
fi

# --- state_objects: 1,000 overlay files / 1,000 dup-ed fds of one open file made during init ---
mkdir -p "$E2E_TMP/so-native/tmp" "$E2E_TMP/so-guest/tmp"
if image state_files --root "$E2E_TMP/so-native" --guest-root "$E2E_TMP/so-guest" \
  -- "$FIXTURES/state_objects" 1000 files @ROOT@/tmp/so; then
  e2e_image_compare state_files objects --rc 0 --input $'0\n999\n500\nchecksum'
  e2e_image_compare state_files restore --restore --rc 0 --input $'1\nchecksum'
fi
if image state_fds --root "$E2E_TMP/so-native" --guest-root "$E2E_TMP/so-guest" \
  --catload-opt --max-fds=4096 -- "$FIXTURES/state_objects" 1000 fds @ROOT@/tmp/so; then
  e2e_image_compare state_fds objects --rc 0 --input $'0\n999\nchecksum'
  e2e_image_compare state_fds restore --restore --rc 0 --input $'1\nchecksum'
fi

# --- one-step `catimg build [capture options] -o FN.cfi -- EXE ARGS...` ---
if e2e_image sqlite_onestep --one-step -- "$FIXTURES/sqlite_fn"; then
  e2e_image_verify sqlite_onestep
  e2e_image_compare sqlite_onestep queries --rc 0 --input $'count qnrwablk\nsum 0 1000\nget 3'
fi
if e2e_image explicit_onestep --one-step --root "$R" --catload-opt --entry=explicit \
  -- "$FIXTURES/explicit_entry" @ROOT@/greeting.txt; then
  e2e_image_verify explicit_onestep
  e2e_image_compare explicit_onestep numbers --rc 0 --input $'3\n4'
fi

# --- unmodified busybox awk: an expensive BEGIN block, then one answer per request line ---
AWK_PROG='BEGIN { for (i = 0; i < 300000; i++) { sq[i] = (i * i) % 1000003; h = (h * 31 + sq[i]) % 1000003 } }
{ n++; v = ($1 in sq) ? sq[$1] : "none"; print NR ": " toupper($0) " fields=" NF " sq=" v " h=" h }
END { print "requests", n + 0 }'
if [[ ! -x $BUSYBOX ]] || ! file -L "$BUSYBOX" 2>/dev/null | grep -q 'statically linked'; then
  e2e_partial_skip "$BUSYBOX is missing or not static (apt-get install busybox-static): awk image not tested"
elif image busybox_awk -- "$BUSYBOX" awk "$AWK_PROG"; then
  e2e_image_compare busybox_awk numbers --rc 0 --input $'5\n12345\n299999\n300000'
  e2e_image_compare busybox_awk words --rc 0 --input $'x y z\nmixed Case words'
  e2e_image_compare busybox_awk empty-stdin --rc 0
  seq 1 20000 >"$E2E_TMP/awk_many.txt"
  e2e_image_compare busybox_awk many-lines --rc 0 --stdin "$E2E_TMP/awk_many.txt"
  e2e_image_compare busybox_awk restore --restore --rc 0 --input $'42\nrestored'
fi

# --- capture of a program that never reaches its func-entry point ---
# capture_fails NAME WHY CAPTURE-ARGS...: capture must exit non-zero with a one-line error and
# write no core.
capture_fails() {
  local name=$1 why=$2
  shift 2
  local core=$E2E_TMP/$name.core
  timeout -k 5 "$E2E_TIMEOUT" "$CATLOAD" capture -o "$core" "$@" \
    </dev/null >"$E2E_TMP/$name.out" 2>"$E2E_TMP/$name.err"
  # The guest's own stderr passes through; catload's message is the one "catload:" line.
  local rc=$? lines
  lines=$(grep -c '^catload' "$E2E_TMP/$name.err")
  if [[ $rc != 0 && $rc != 124 && $lines == 1 && ! -s $core ]]; then
    e2e_pass "$name: capture exits $rc: $(grep '^catload' "$E2E_TMP/$name.err")"
  else
    e2e_fail "$name" "($why): want a non-zero exit, one catload line on stderr and no core; got exit $rc, $lines catload lines, core $([[ -s $core ]] && echo written || echo absent)"
    echo "  command: $(e2e_quote "$CATLOAD" capture -o "$core" "$@") < /dev/null"
    e2e_show "stderr" "$E2E_TMP/$name.err" 10
  fi
}
capture_fails capture-exits-before-entry "lua_fn exits 1 (missing script) before reading stdin" \
  -- "$FIXTURES/lua_fn" /no/such.lua
capture_fails capture-no-explicit-entry "hello never calls cat_func_entry" \
  --entry=explicit -- "$FIXTURES/hello"
capture_fails capture-cpu-limit "lua_fn's init needs more than 0.1 s of CPU" \
  --cpu-limit 0.1 --mount "$FIXTURES:/fn:ro" -- "$FIXTURES/lua_fn" /fn/function.lua
if grep -q 'CPU time limit of 0.1 s exceeded' "$E2E_TMP/capture-cpu-limit.err"; then
  e2e_pass "capture-cpu-limit: the error names the CPU limit"
else
  e2e_fail "capture-cpu-limit" "the error does not name the CPU limit"
fi

e2e_finish
