#!/usr/bin/env bash
# boot_modes: the warm and fork boot paths (`catload run --boot warm|fork --repeat N`, N
# instances booted one after another in one catload, as `catload serve` boots them) answer
# like a native run, every instance from the same snapshot: nothing an instance changes —
# memory, heap, an overlay file, a host file's offset — is seen by the next instance or by the
# template (instance_state, counter_fn); every instance is new (uniq_fn: its own generation and
# entropy, a monotonic clock not behind the snapshot's). Also: the stats each path reports, and a
# bad image refused once, before any instance.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

e2e_require_images
for f in hello lua_fn counter_fn instance_state uniq_fn; do e2e_require_fixture "$f"; done
[[ -f $FIXTURES/function.lua ]] || e2e_setup_fail "$FIXTURES/function.lua is missing (build the lua_fn_script target)"
e2e_tmpdir

# repeat NAME MODE N INPUT [run options]: N instances of NAME.cfi; stdout into
# $E2E_TMP/NAME.MODE.out, stderr .err; sets RC.
repeat() {
  local name=$1 mode=$2 n=$3 input=$4
  shift 4
  local -a bind
  eval "bind=(${E2E_IMG_BIND[$name]:-})"
  printf '%s\n' "$input" | timeout -k 5 "$E2E_TIMEOUT" "$CATLOAD" run "${bind[@]}" --boot "$mode" \
    --repeat "$n" "$@" "$E2E_TMP/$name.cfi" >"$E2E_TMP/$name.$mode.out" 2>"$E2E_TMP/$name.$mode.err"
  RC=$?
}

# same_lines FILE N LINE: FILE is LINE exactly N times.
same_lines() {
  [[ $(grep -cxF -- "$3" "$1") == "$2" && $(wc -l <"$1") == "$2" ]]
}

# --- hello, lua_fn: every instance answers as the native program ---
e2e_image hello -- "$FIXTURES/hello" || true
e2e_image lua_fn --mount "$FIXTURES:/fn:ro" -- "$FIXTURES/lua_fn" /fn/function.lua || true
for name in hello lua_fn; do
  [[ -s $E2E_TMP/$name.cfi ]] || continue
  native=$(printf 'world\n' | eval "${E2E_IMG_NATIVE[$name]}")
  for mode in warm fork; do
    repeat "$name" "$mode" 3 world
    expected=$(for i in 1 2 3; do printf '%s\n' "$native"; done)
    e2e_check "$name --boot $mode --repeat 3: exit 0 (got $RC) and three native answers" \
      test "$RC" = 0 -a "$(cat "$E2E_TMP/$name.$mode.out")" = "$expected"
  done
done

# --- instance_state: memory, heap, overlay and host file offsets are per instance ---
mkdir -p "$E2E_TMP/data"
printf 'abcdEFGHijklmnop' >"$E2E_TMP/data/bytes"
want="counter 1, heap init, log 2 lines, host bytes 4..8 'EFGH'"
if e2e_image instance_state --mount "$E2E_TMP/data:/data:ro" -- "$FIXTURES/instance_state" \
  /data/bytes; then
  for mode in cold warm fork; do
    repeat instance_state "$mode" 4 request
    e2e_check "instance_state --boot $mode --repeat 4: exit 0 (got $RC), every instance prints '$want'" \
      same_lines "$E2E_TMP/instance_state.$mode.out" 4 "$want"
  done
fi

# --- counter_fn: an overlay file written by each instance's requests ---
mkdir -p "$E2E_TMP/counter-native/tmp" "$E2E_TMP/counter-guest/tmp"
if e2e_image counter_fn --root "$E2E_TMP/counter-native" --guest-root "$E2E_TMP/counter-guest" \
  -- "$FIXTURES/counter_fn" @ROOT@/tmp/counter; then
  for mode in warm fork; do
    repeat counter_fn "$mode" 5 $'a\nb'
    expected=$(for i in 1 2 3 4 5; do printf 'count 1\ncount 2\n'; done)
    e2e_check "counter_fn --boot $mode --repeat 5: each instance counts 1, 2 (got: $(tr '\n' ' ' <"$E2E_TMP/counter_fn.$mode.out"))" \
      test "$RC" = 0 -a "$(cat "$E2E_TMP/counter_fn.$mode.out")" = "$expected"
  done
fi

# --- uniq_fn: every warm and fork instance is new (spec/abi.md, "Uniqueness after restore") ---
if e2e_image uniq_fn -- "$FIXTURES/uniq_fn"; then
  for mode in warm fork; do
    repeat uniq_fn "$mode" 3 go
    out=$E2E_TMP/uniq_fn.$mode.out
    e2e_check "uniq_fn --boot $mode --repeat 3: three instances, three generations, none the snapshot's" \
      test "$RC" = 0 -a "$(grep '^generation=' "$out" | sort -u | wc -l)" = 3 -a \
      "$(grep -c "^generation=$(grep -m1 '^init_generation=' "$out" | cut -d= -f2)\$" "$out")" = 0
    e2e_check "uniq_fn --boot $mode --repeat 3: getrandom fresh in each instance" \
      test "$(grep '^getrandom=' "$out" | sort -u | wc -l)" = 3
    e2e_check "uniq_fn --boot $mode --repeat 3: CLOCK_MONOTONIC never behind the snapshot's" \
      awk -F= '/^init_monotonic_ns=/ { init = $2 } /^monotonic_ns=/ { if ($2 < init) bad = 1 } END { exit bad }' "$out"
  done
fi

# --- stats: each path reports its own stages and its boot latency per instance ---
if [[ -s $E2E_TMP/hello.cfi ]]; then
  repeat hello warm 3 x --stats=json
  e2e_check "hello --boot warm --stats=json: three JSON lines with copy state, shell, map memory and no pool miss" \
    test "$(grep -c '"copy state":[0-9]*,"shell":[0-9]*,"watchdog":[0-9]*,"map memory"' "$E2E_TMP/hello.warm.err")" = 3 \
    -a "$(grep -c '"pool_miss":0' "$E2E_TMP/hello.warm.err")" = 3
  repeat hello fork 3 x --stats=json
  e2e_check "hello --boot fork --stats=json: three JSON lines with copy state and fork shell" \
    test "$(grep -c '"copy state":[0-9]*,"fork shell":[0-9]*' "$E2E_TMP/hello.fork.err")" = 3
  repeat hello fork 2 x --stats=json --template-dirty 1M
  e2e_check "hello --boot fork --template-dirty 1M: the template wrote 1 MiB before it was forked" \
    grep -q '"template_dirty_bytes":1048576' "$E2E_TMP/hello.fork.err"
  e2e_check "hello --boot fork --template-dirty 1M: the answers are still native" \
    test "$(cat "$E2E_TMP/hello.fork.out")" = "$(printf 'hello, x\nhello, x')"
fi

# --- a corrupted image is refused once, before any instance ---
if [[ -s $E2E_TMP/hello.cfi ]]; then
  cp "$E2E_TMP/hello.cfi" "$E2E_TMP/bad.cfi"
  arena=$("$CATIMG" inspect --json "$E2E_TMP/hello.cfi" | grep -o '"arena":{"offset":[0-9]*' | grep -o '[0-9]*$')
  if [[ -n $arena ]]; then
    printf '\xff\xff\xff\xff' | dd of="$E2E_TMP/bad.cfi" bs=1 seek=$((arena + 64)) conv=notrunc 2>/dev/null
    for mode in warm fork; do
      repeat bad "$mode" 2 x
      e2e_check "bad.cfi --boot $mode: refused (exit 125, got $RC) with the arena checksum named, no output" \
        test "$RC" = 125 -a ! -s "$E2E_TMP/bad.$mode.out" -a \
        "$(grep -c 'state arena checksum mismatch' "$E2E_TMP/bad.$mode.err")" = 1
    done
  else
    e2e_fail "bad.cfi: catimg inspect --json names no arena offset"
  fi
fi
e2e_finish
