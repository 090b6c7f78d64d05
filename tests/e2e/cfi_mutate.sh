#!/usr/bin/env bash
# cfi_mutate: the test tool that patches a func-image and reseals its checksums reseals them
# right, so that the crafted-input tests built on it reach the structural checks. From an image
# of the hello fixture: a reseal without edits still verifies and boots; an arena byte, a
# relocation entry and a manifest string edited and resealed give no checksum complaint from
# `catimg verify`; a manifest grown past its page moves the body and still verifies (every
# file offset moved with it); the random modes are deterministic per seed; bad edits are
# refused with exit 2. A missing binary is a failure, not a skip.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

for v in CATLOAD CATIMG CFI_MUTATE FIXTURES; do
  [[ -n ${!v:-} ]] || { echo "FAIL setup: $v is not set (run through ctest)"; exit 1; }
done
for b in "$CATLOAD" "$CATIMG" "$CFI_MUTATE" "$FIXTURES/hello"; do
  [[ -x $b ]] || { echo "FAIL setup: $b is missing (build it first)"; exit 1; }
done
e2e_tmpdir
T=$E2E_TMP
GOOD=$T/hello.cfi
if ! timeout 60 "$CATIMG" build -o "$GOOD" -- "$FIXTURES/hello" </dev/null >"$T/build.out" 2>&1; then
  echo "FAIL setup: catimg build: $(tail -n 3 "$T/build.out")"
  exit 1
fi

# verify_no_checksum NAME IMAGE: catimg verify reports no checksum mismatch (it may refuse the
# image for what the edit broke, but never for a checksum).
verify_no_checksum() {
  "$CATIMG" verify "$2" >"$T/$1.verify" 2>&1
  if grep -qi checksum "$T/$1.verify"; then
    e2e_fail "$1" "catimg verify found a checksum mismatch after the reseal: $(head -n 2 "$T/$1.verify")"
    return 1
  fi
  e2e_pass "$1: no checksum complaint ($(head -n 1 "$T/$1.verify"))"
}

# The reseal alone: verifies, boots, and answers like the original.
"$CFI_MUTATE" "$GOOD" -o "$T/resealed.cfi" --reseal-only
e2e_check "reseal-only: catimg verify says ok" "$CATIMG" verify "$T/resealed.cfi"
out=$(printf 'world\n' | timeout 30 "$CATLOAD" run "$T/resealed.cfi" 2>"$T/resealed.err")
e2e_check "reseal-only: boots and answers 'hello, world' (got '$out')" test "$out" = "hello, world"

# A control: the same edit without the reseal is caught by the checksum (the check above
# would be vacuous if verify never mentioned checksums).
cp "$GOOD" "$T/unsealed.cfi"
arena_off=$("$CFI_MUTATE" "$GOOD" --info | sed -n 's/^arena: offset=\([0-9]*\).*/\1/p')
printf '\xff' | dd of="$T/unsealed.cfi" bs=1 seek=$((arena_off + 3)) conv=notrunc status=none
"$CATIMG" verify "$T/unsealed.cfi" >"$T/unsealed.verify" 2>&1
e2e_check "control: an unsealed arena edit is an arena checksum mismatch" \
  grep -q "arena: checksum mismatch" "$T/unsealed.verify"

"$CFI_MUTATE" "$GOOD" -o "$T/arena.cfi" --arena-byte 3=0xff
verify_no_checksum arena-byte "$T/arena.cfi"
cmp -s <(dd if="$T/arena.cfi" bs=1 skip=$((arena_off + 3)) count=1 status=none | od -An -tx1) \
  <(echo " ff")
e2e_check "arena-byte: the byte at arena offset 3 is 0xff" test $? = 0

"$CFI_MUTATE" "$GOOD" -o "$T/reloc.cfi" --reloc 0=8
verify_no_checksum reloc "$T/reloc.cfi"
e2e_check "reloc: entry 0 now names arena slot 8" \
  grep -q "^reloc 0: slot 8 " <("$CFI_MUTATE" "$T/reloc.cfi" --info)

"$CFI_MUTATE" "$GOOD" -o "$T/rootfs.cfi" --rootfs /nonexistent-rootfs
verify_no_checksum rootfs "$T/rootfs.cfi"

# A 9000-byte mount string: the manifest outgrows its page, the body moves by a page and every
# offset moves with it.
long=$(head -c 9000 /dev/zero | tr '\0' a)
"$CFI_MUTATE" "$GOOD" -o "$T/grown.cfi" --mount "0=/$long:/x"
verify_no_checksum grown "$T/grown.cfi"
before=$("$CFI_MUTATE" "$GOOD" --info | sed -n 's/^manifest at [0-9]*, body at \([0-9]*\).*/\1/p')
after=$("$CFI_MUTATE" "$T/grown.cfi" --info | sed -n 's/^manifest at [0-9]*, body at \([0-9]*\).*/\1/p')
e2e_check "grown: the body moved back (from $before to $after)" test "${after:-0}" -gt "${before:-0}"
diff <("$CFI_MUTATE" "$GOOD" --info | grep '^reloc ') <("$CFI_MUTATE" "$T/grown.cfi" --info | grep '^reloc ') >/dev/null
e2e_check "grown: every relocation slot still holds the same value" test $? = 0

# Random modes: resealed, and the same seed gives the same bytes.
differs() { ! cmp -s "$1" "$2"; }
for seed in 1 2 3; do
  "$CFI_MUTATE" "$GOOD" -o "$T/ra$seed.cfi" --random-arena $seed
  "$CFI_MUTATE" "$GOOD" -o "$T/rb$seed.cfi" --random-arena $seed
  e2e_check "random-arena $seed: deterministic" cmp -s "$T/ra$seed.cfi" "$T/rb$seed.cfi"
  verify_no_checksum "random-arena-$seed" "$T/ra$seed.cfi"
  "$CFI_MUTATE" "$GOOD" -o "$T/rm$seed.cfi" --random-manifest $seed
  e2e_check "random-manifest $seed: differs from the original" differs "$GOOD" "$T/rm$seed.cfi"
done

# Bad edits are the tool's error (exit 2), not a silently unchanged image.
bad_edit() {
  local what=$1
  shift
  "$CFI_MUTATE" "$GOOD" -o "$T/bad.cfi" "$@" >"$T/bad.out" 2>&1
  local rc=$?
  e2e_check "$what: exit 2 (got $rc: $(head -n 1 "$T/bad.out"))" test $rc = 2
}
bad_edit "reloc index past the table" --reloc 100000=0
bad_edit "arena offset past the arena" --arena-u64 100000000=0
bad_edit "unknown segment field" --segment 0.colour=1
bad_edit "no edit" 
"$CFI_MUTATE" "$FIXTURES/hello" -o "$T/bad.cfi" --reseal-only >"$T/bad.out" 2>&1
e2e_check "not an image: exit 2" test $? = 2
e2e_finish
