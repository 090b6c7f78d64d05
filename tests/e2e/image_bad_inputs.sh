#!/usr/bin/env bash
# image_bad_inputs: every kind of bad func-image is refused by `catload run` cleanly, and
# `catimg verify` catches a flipped byte anywhere in a stored part.
#
# From a real image of the hello fixture (captured and built here), copies that are:
# truncated (empty, 10 bytes, half, last byte cut), of the wrong magic, of a newer major version
# (with and without its header checksum recomputed), with a corrupted header / manifest / arena
# byte, with a corrupted relocation entry (checksums stale: the checksum refuses it), with
# crafted relocations whose checksums are recomputed by cfi_mutate (an entry past the arena, a
# misaligned entry, a slot holding an offset outside the arena: each refused by its own check,
# named), with another layout fingerprint (manifest field patched, checksums recomputed).
# For each, `catload run` must: exit non-zero and below 128 (no crash), within the time limit
# (no hang), with exactly one line on stderr that names the problem, nothing on stdout, and no
# file written (its cwd and TMPDIR stay empty, the image's directory and the image unchanged).
# A newer minor version must still boot. Then an image whose rootfs file changed after capture
# (busybox awk reading a file it opened at init; the many_files fixture when it is built):
# reading it must fail with one log line naming the file, no crash, no hang.
# Finally `catimg verify` is run on copies with one byte flipped at positions sampled across
# every stored part (header, manifest, each stored segment, arena, relocation table): each must
# be reported bad (exit non-zero), naming the part.
#
# Header checksums are recomputed with `xxhsum -H3` (Debian package xxhash; without it those
# cases are skipped with that reason, recorded by e2e_partial_skip), everything else with
# tests/tools/cfi_mutate ($CFI_MUTATE, ours: missing is a failure).
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

e2e_require_catload
[[ -n ${CATIMG:-} && -x $CATIMG ]] || e2e_setup_fail "catimg binary not found at ${CATIMG:-<CATIMG unset>}"
# `X NOSUCH --help` prints the main help and exits 0, so look for the subcommand's usage line.
has_sub() { "$1" "$2" --help 2>&1 | grep -qE "^Usage: [^ ]*$(basename "$1") $2( |\$)"; }
for sub in capture run; do
  has_sub "$CATLOAD" $sub || e2e_setup_fail "catload has no working '$sub' subcommand"
done
for sub in build verify inspect; do
  has_sub "$CATIMG" $sub || e2e_setup_fail "catimg has no working '$sub' subcommand"
done
e2e_require_fixture hello
[[ -n ${CFI_MUTATE:-} && -x $CFI_MUTATE ]] || e2e_setup_fail "cfi_mutate not found at ${CFI_MUTATE:-<CFI_MUTATE unset>} (build the cfi_mutate target)"
command -v jq >/dev/null || e2e_skip "jq not installed (needed to read catimg inspect --json)"
HAVE_XXH=0
command -v xxhsum >/dev/null && HAVE_XXH=1
e2e_tmpdir
RUN_DIR=$E2E_TMP/runs
mkdir -p "$RUN_DIR"
LIMIT=${E2E_BAD_TIMEOUT:-20}

# ---- the reference image -------------------------------------------------------------------

REQ=$E2E_TMP/request
printf 'world\n' >"$REQ"
GOOD=$E2E_TMP/hello.cfi
# The one-step form (capture + build): the checkpoint itself is not needed here.
if ! timeout 60 "$CATIMG" build -o "$GOOD" -- "$FIXTURES/hello" </dev/null \
  >"$E2E_TMP/build.out" 2>"$E2E_TMP/build.err"; then
  echo "FAIL setup: catimg build -o hello.cfi -- hello failed: $(grep -v 'build: ' "$E2E_TMP/build.err" | head -n 3)"
  exit 1
fi
out=$(timeout 30 "$CATLOAD" run "$GOOD" <"$REQ" 2>"$E2E_TMP/good.err")
if [[ $out != "hello, world" ]]; then
  echo "FAIL setup: the unmodified image does not work: stdout '$out', stderr: $(head -n 3 "$E2E_TMP/good.err")"
  exit 1
fi
if ! "$CATIMG" verify "$GOOD" >"$E2E_TMP/verify.out" 2>&1; then
  echo "FAIL setup: catimg verify rejects the unmodified image: $(head -n 3 "$E2E_TMP/verify.out")"
  exit 1
fi
"$CATIMG" inspect --json "$GOOD" >"$E2E_TMP/inspect.json" || { echo "FAIL setup: catimg inspect --json"; exit 1; }

# ---- byte helpers --------------------------------------------------------------------------

u64() { od -An -t u8 -j "$2" -N 8 "$1" | tr -d ' '; }
u32() { od -An -t u4 -j "$2" -N 4 "$1" | tr -d ' '; }
u16() { od -An -t u2 -j "$2" -N 2 "$1" | tr -d ' '; }
byte() { od -An -t u1 -j "$2" -N 1 "$1" | tr -d ' '; }
# put_hex FILE OFFSET HEXBYTES: overwrite bytes in place ("0a1b..." in file order).
put_hex() {
  local esc
  esc=$(sed 's/../\\x&/g' <<<"$3")
  # shellcheck disable=SC2059 # the escapes are the point
  printf "$esc" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
# le_hex VALUE BYTES: VALUE (decimal) as little-endian hex.
le_hex() { perl -e 'my ($v, $n) = @ARGV; print join "", map { sprintf "%02x", ($v >> (8 * $_)) & 255 } 0 .. $n - 1' "$1" "$2"; }
# flip FILE OFFSET: invert every bit of one byte.
flip() { put_hex "$1" "$2" "$(printf '%02x' $(($(byte "$1" "$2") ^ 0xff)))"; }
# xxh3_le FILE OFFSET LEN: XXH3-64 of a byte range as 8 little-endian bytes in hex.
xxh3_le() {
  local h
  h=$(tail -c +"$(($2 + 1))" "$1" | head -c "$3" | xxhsum -H3 - | awk '{ print $NF; exit }')
  h=${h##*= }
  # xxhsum prints the value big-endian (most significant first): reverse the byte order.
  perl -e 'print join "", reverse unpack("(A2)*", $ARGV[0])' "$h"
}
fix_header_sum() { put_hex "$1" $((HDR - 8)) "$(xxh3_le "$1" 0 $((HDR - 8)))"; }
fix_manifest_sum() { put_hex "$1" 32 "$(xxh3_le "$1" "$MOFF" "$MSIZE")"; }

HDR=$(u32 "$GOOD" 12)
MOFF=$(u64 "$GOOD" 16)
MSIZE=$(u64 "$GOOD" 24)
FSIZE=$(stat -c %s "$GOOD")
AOFF=$(jq -r .arena.offset "$E2E_TMP/inspect.json")
ASIZE=$(jq -r .arena.size "$E2E_TMP/inspect.json")
RCOUNT=$(jq -r .arena.relocations "$E2E_TMP/inspect.json")
ROFF=$((FSIZE - RCOUNT * 8)) # the relocation table ends the file (spec/func-image.md)
echo "reference image: $FSIZE bytes; header $HDR, manifest [$MOFF, +$MSIZE), arena [$AOFF, +$ASIZE), $RCOUNT relocations at $ROFF"
if ((ROFF != (AOFF + ASIZE + 7) / 8 * 8)); then
  echo "note: relocation table offset $ROFF is not the 8-aligned end of the arena: layout changed? (relocation cases may aim wrong)"
fi
if ((HAVE_XXH)); then
  # Self-check: recomputing the header checksum of the good image must give the same bytes.
  cp "$GOOD" "$E2E_TMP/selfcheck.cfi"
  fix_header_sum "$E2E_TMP/selfcheck.cfi"
  fix_manifest_sum "$E2E_TMP/selfcheck.cfi"
  if ! cmp -s "$GOOD" "$E2E_TMP/selfcheck.cfi"; then
    echo "FAIL setup: recomputing the header/manifest XXH3 with xxhsum does not reproduce the image's bytes"
    exit 1
  fi
fi

# ---- catload run on a bad image ------------------------------------------------------------

# expect_refused NAME IMAGE REGEX: runs `catload run IMAGE` in a clean scratch place and checks
# the refusal (see the header). REGEX (ERE, case-insensitive) must match the stderr line.
expect_refused() {
  local name=$1 img=$2 re=$3
  local place=$E2E_TMP/place-$name
  mkdir -p "$place/cwd" "$place/tmp" "$place/img"
  local target=$place/img/fn.cfi
  if [[ -e $img ]]; then cp -a "$img" "$target"; else target=$img; fi
  [[ -e $img ]] && cp -a "$img" "$place/pristine.cfi"
  local before
  before=$(ls -la --time-style=+%s "$place/img")
  RUN_STDIN=$REQ e2e_run "$name" "$LIMIT" env -C "$place/cwd" TMPDIR="$place/tmp" "$CATLOAD" run "$target"
  local problems=() lines
  lines=$(grep -c '' "$RUN_ERR" || true)
  case $RUN_KIND in
    hung) problems+=("hung: still running after ${LIMIT}s") ;;
    signal) problems+=("crashed: $(e2e_run_desc)") ;;
    exit)
      ((RUN_VALUE != 0)) || problems+=("exited 0: the bad image was accepted")
      ((RUN_VALUE < 128)) || problems+=("exit status $RUN_VALUE >= 128")
      ;;
  esac
  ((lines == 1)) || problems+=("$lines stderr lines, want exactly 1")
  grep -qiE -- "$re" "$RUN_ERR" || problems+=("stderr does not name the problem (want /$re/)")
  [[ ! -s $RUN_OUT ]] || problems+=("wrote to stdout: $(head -c 80 "$RUN_OUT")")
  [[ -z $(ls -A "$place/cwd") ]] || problems+=("wrote files in its cwd: $(ls -A "$place/cwd" | head -n 5 | tr '\n' ' ')")
  [[ -z $(ls -A "$place/tmp") ]] || problems+=("wrote files in TMPDIR: $(ls -A "$place/tmp" | head -n 5 | tr '\n' ' ')")
  [[ $before == "$(ls -la --time-style=+%s "$place/img")" ]] || problems+=("changed the image's directory")
  if [[ -e $img ]] && ! cmp -s "$target" "$place/pristine.cfi"; then problems+=("modified the image"); fi
  local msg
  msg=$(head -n 1 "$RUN_ERR" | cut -c1-240)
  if ((${#problems[@]} == 0)); then
    e2e_pass "run $name: $(e2e_run_desc); stderr: $msg"
  else
    e2e_fail "run $name: $(IFS=';'; echo "${problems[*]}") [$(e2e_run_desc)]"
    e2e_show "stderr" "$RUN_ERR" 5
  fi
}

bad() { # bad NAME: a fresh copy of the good image to damage, path in BAD
  BAD=$E2E_TMP/bad-$1.cfi
  cp "$GOOD" "$BAD"
}

# Truncations.
: >"$E2E_TMP/bad-empty.cfi"
expect_refused empty "$E2E_TMP/bad-empty.cfi" 'empty|truncat|0 bytes'
head -c 10 "$GOOD" >"$E2E_TMP/bad-10bytes.cfi"
expect_refused truncated-10-bytes "$E2E_TMP/bad-10bytes.cfi" 'truncat|short'
head -c $((FSIZE / 2)) "$GOOD" >"$E2E_TMP/bad-half.cfi"
expect_refused truncated-half "$E2E_TMP/bad-half.cfi" 'truncat'
head -c $((FSIZE - 1)) "$GOOD" >"$E2E_TMP/bad-lastbyte.cfi"
expect_refused truncated-last-byte "$E2E_TMP/bad-lastbyte.cfi" 'truncat'
expect_refused missing-file "$E2E_TMP/no-such-image.cfi" 'no such file|does not exist|cannot open|not found'

# Magic and version.
bad magic
put_hex "$BAD" 0 58 # 'C' -> 'X'
expect_refused wrong-magic "$BAD" 'magic|not a func-image'
MAJOR=$(u16 "$GOOD" 8)
MINOR=$(u16 "$GOOD" 10)
bad major-unfixed
put_hex "$BAD" 8 "$(le_hex $((MAJOR + 1)) 2)"
expect_refused major-plus-1-header-sum-stale "$BAD" "version|format $((MAJOR + 1))|newer"
if ((HAVE_XXH)); then
  bad major
  put_hex "$BAD" 8 "$(le_hex $((MAJOR + 1)) 2)"
  fix_header_sum "$BAD"
  expect_refused major-plus-1 "$BAD" "version|format $((MAJOR + 1))|newer"

  # A newer minor version must still be readable (spec: major must match, newer minor readable).
  bad minor
  put_hex "$BAD" 10 "$(le_hex $((MINOR + 1)) 2)"
  fix_header_sum "$BAD"
  RUN_STDIN=$REQ e2e_run minor-plus-1 "$LIMIT" "$CATLOAD" run "$BAD"
  if [[ $RUN_KIND == exit && $RUN_VALUE == 0 && $(cat "$RUN_OUT") == "hello, world" ]]; then
    e2e_pass "run minor-plus-1: a $MAJOR.$((MINOR + 1)) image boots and answers"
  else
    e2e_fail "run minor-plus-1: a $MAJOR.$((MINOR + 1)) image should boot: $(e2e_run_desc), stdout '$(head -c 80 "$RUN_OUT")', stderr: $(head -n 1 "$RUN_ERR")"
  fi
else
  e2e_partial_skip "run major-plus-1 / minor-plus-1 with recomputed header checksum: xxhsum not installed (apt-get install xxhash)"
fi

# One corrupted byte per part.
bad header-byte
flip "$BAD" 52 # a reserved byte: only the header checksum can notice
expect_refused corrupt-header-byte "$BAD" 'header'
bad manifest-byte
flip "$BAD" $((MOFF + MSIZE / 2))
expect_refused corrupt-manifest-byte "$BAD" 'manifest'
if ((ASIZE > 0)); then
  bad arena-byte
  flip "$BAD" $((AOFF + ASIZE / 2))
  expect_refused corrupt-arena-byte "$BAD" 'arena'
else
  e2e_fail "corrupt-arena-byte: the hello image's arena is empty"
fi
if ((RCOUNT > 0)); then
  bad reloc-unsealed
  put_hex "$BAD" $((ROFF + 7)) 7f # entry 0's top byte, checksum left stale
  expect_refused corrupt-relocation-checksum-stale "$BAD" 'relocation table.*checksum|checksum.*relocation'
  # Checksums resealed: the structural checks must refuse each one, by name.
  k=$((RCOUNT / 2))
  "$CFI_MUTATE" "$GOOD" -o "$E2E_TMP/bad-reloc-past.cfi" --reloc "0=$ASIZE"
  expect_refused relocation-past-the-arena "$E2E_TMP/bad-reloc-past.cfi" 'relocation 0 points outside the arena'
  slot=$("$CFI_MUTATE" "$GOOD" --info | sed -n "s/^reloc $k: slot \([0-9]*\) .*/\1/p")
  "$CFI_MUTATE" "$GOOD" -o "$E2E_TMP/bad-reloc-misaligned.cfi" --reloc "$k=$((slot + 4))"
  expect_refused relocation-misaligned "$E2E_TMP/bad-reloc-misaligned.cfi" "relocation $k points outside the arena"
  "$CFI_MUTATE" "$GOOD" -o "$E2E_TMP/bad-reloc-target.cfi" --arena-u64 "$slot=$((ASIZE + 4096))"
  expect_refused relocation-target-outside "$E2E_TMP/bad-reloc-target.cfi" "relocation $k holds an offset outside the arena"
  # catimg verify names the entry (its own check, not the checksum).
  "$CATIMG" verify "$E2E_TMP/bad-reloc-past.cfi" >"$E2E_TMP/verify-reloc.out" 2>&1
  rc=$?
  if ((rc == 1)) && grep -q 'relocation table: 1 entries point outside the arena (first: entry 0)' "$E2E_TMP/verify-reloc.out"; then
    e2e_pass "verify relocation-past-the-arena: $(head -n 1 "$E2E_TMP/verify-reloc.out")"
  else
    e2e_fail "verify relocation-past-the-arena: exit $rc, want 1 naming entry 0: $(head -n 2 "$E2E_TMP/verify-reloc.out")"
  fi
else
  e2e_fail "corrupt-relocation: the hello image has no relocations"
fi

# Layout fingerprint: the manifest field changed, checksums recomputed.
fp=$(jq -r .layout_fingerprint "$E2E_TMP/inspect.json")
"$CFI_MUTATE" "$GOOD" -o "$E2E_TMP/bad-fingerprint.cfi" --manifest "layout_fingerprint=$((fp ^ 1))"
if "$CATIMG" inspect --json "$E2E_TMP/bad-fingerprint.cfi" 2>/dev/null | jq -e --arg fp "$fp" '.layout_fingerprint != $fp' >/dev/null; then
  expect_refused layout-fingerprint-mismatch "$E2E_TMP/bad-fingerprint.cfi" 'fingerprint|layout'
else
  e2e_fail "layout-fingerprint-mismatch: cfi_mutate did not change the fingerprint catimg inspect reports"
fi

# ---- a rootfs file that changed after capture --------------------------------------------

# check_changed NAME WANT_FILE_RE CMD...: one run of a function whose open file changed; it must
# not crash or hang, and stderr must hold exactly one line, naming the file.
check_changed() {
  local name=$1 re=$2
  shift 2
  e2e_run "$name" "$LIMIT" "$@"
  local problems=() lines
  lines=$(grep -c '' "$RUN_ERR" || true)
  [[ $RUN_KIND == exit ]] || problems+=("$(e2e_run_desc)")
  [[ $RUN_KIND != exit ]] || ((RUN_VALUE < 128)) || problems+=("exit status $RUN_VALUE >= 128")
  ((lines == 1)) || problems+=("$lines stderr lines, want exactly 1")
  grep -qE -- "$re" "$RUN_ERR" || problems+=("stderr does not name the file (want /$re/)")
  if ((${#problems[@]} == 0)); then
    e2e_pass "$name: $(e2e_run_desc); stdout: $(head -c 80 "$RUN_OUT" | tr '\n' ' '); stderr: $(head -n 1 "$RUN_ERR" | cut -c1-200)"
  else
    e2e_fail "$name: $(IFS=';'; echo "${problems[*]}")"
    e2e_show "stdout" "$RUN_OUT" 5
    e2e_show "stderr" "$RUN_ERR" 5
  fi
}

BUSYBOX=${BUSYBOX:-/bin/busybox}
if [[ -x $BUSYBOX ]]; then
  # awk opens /data.txt at init (first getline), then reads its request, then the rest of the
  # file: the read after boot goes through the fd opened before the snapshot. The file is
  # larger than awk's buffer so that the rest really is read after boot.
  ROOT=$E2E_TMP/awkroot
  mkdir -p "$ROOT"
  seq 1 200000 >"$ROOT/data.txt"
  AWK='BEGIN { getline first < "/data.txt"; getline req; n = 1; while ((r = (getline l < "/data.txt")) > 0) n++; print req, first, n, r }'
  if timeout 60 "$CATIMG" build --rootfs "$ROOT" -o "$E2E_TMP/awk.cfi" -- "$BUSYBOX" awk "$AWK" \
    </dev/null >/dev/null 2>"$E2E_TMP/awk.build.err"; then
    RUN_STDIN=$REQ e2e_run awk-unchanged "$LIMIT" "$CATLOAD" run "$E2E_TMP/awk.cfi"
    if [[ $RUN_KIND == exit && $RUN_VALUE == 0 && $(cat "$RUN_OUT") == "world 1 200000 0" ]]; then
      e2e_pass "rootfs-unchanged (busybox awk): the image reads its open file after boot"
      # Changed: same path, different size and mtime.
      cp "$ROOT/data.txt" "$E2E_TMP/data.orig"
      echo 200001 >>"$ROOT/data.txt"
      RUN_STDIN=$REQ check_changed rootfs-file-changed-lazy 'data\.txt' "$CATLOAD" run "$E2E_TMP/awk.cfi"
      RUN_STDIN=$REQ check_changed rootfs-file-changed-eager 'data\.txt' "$CATLOAD" run --reconnect=eager "$E2E_TMP/awk.cfi"
      # Same size, other content and mtime.
      cp "$E2E_TMP/data.orig" "$ROOT/data.txt"
      sed -i '1s/1/9/' "$ROOT/data.txt"
      touch -d '2001-01-01' "$ROOT/data.txt"
      RUN_STDIN=$REQ check_changed rootfs-file-same-size-new-mtime 'data\.txt' "$CATLOAD" run "$E2E_TMP/awk.cfi"
      rm "$ROOT/data.txt"
      RUN_STDIN=$REQ check_changed rootfs-file-vanished 'data\.txt' "$CATLOAD" run "$E2E_TMP/awk.cfi"
    else
      e2e_fail "rootfs-unchanged (busybox awk): $(e2e_run_desc), stdout '$(head -c 80 "$RUN_OUT")', stderr: $(head -n 2 "$RUN_ERR")"
    fi
  else
    e2e_fail "rootfs (busybox awk): catimg build failed: $(grep -v 'build: ' "$E2E_TMP/awk.build.err" | head -n 2)"
  fi
else
  e2e_partial_skip "rootfs-file-changed (busybox awk): $BUSYBOX not found (apt-get install busybox-static)"
fi

if [[ -x $FIXTURES/many_files ]]; then
  DATA=$E2E_TMP/many
  mkdir -p "$DATA"
  for i in $(seq 0 7); do echo "content of f$i" >"$DATA/f$i"; done
  if timeout 60 "$CATIMG" build --mount "$DATA:/data:ro" -o "$E2E_TMP/many.cfi" -- "$FIXTURES/many_files" /data 8 \
    </dev/null >/dev/null 2>"$E2E_TMP/many.build.err"; then
    echo 3 >"$E2E_TMP/req3"
    echo "content of f3 changed" >"$DATA/f3"
    RUN_STDIN=$E2E_TMP/req3 check_changed many_files-file-changed 'f3' "$CATLOAD" run "$E2E_TMP/many.cfi"
    if grep -q 'error: f3' "$RUN_OUT"; then
      e2e_pass "many_files-file-changed: the read failed in the guest ($(head -n 1 "$RUN_OUT"))"
    else
      e2e_fail "many_files-file-changed: the guest's read of the changed file did not fail: stdout '$(head -c 80 "$RUN_OUT")'"
    fi
  else
    e2e_fail "many_files: catimg build failed: $(grep -v 'build: ' "$E2E_TMP/many.build.err" | head -n 2)"
  fi
else
  e2e_fail "many_files-file-changed: fixture $FIXTURES/many_files not built"
fi

# ---- catimg verify catches a flipped byte in every stored part ----------------------------

# Parts: name begin length. Positions sampled in each: first, last, middle and a few spread
# evenly between them (VERIFY_SAMPLES per part, default 5).
parts=("header 0 $HDR" "manifest $MOFF $MSIZE")
while read -r i off size; do
  parts+=("segment-$i $off $size")
done < <(jq -r '.segments | to_entries[] | select(.value.stored) | "\(.key) \(.value.file_offset) \(.value.size)"' "$E2E_TMP/inspect.json")
((ASIZE > 0)) && parts+=("arena $AOFF $ASIZE")
((RCOUNT > 0)) && parts+=("relocations $ROFF $((RCOUNT * 8))")
SAMPLES=${VERIFY_SAMPLES:-5}
checked=0 missed=()
FLIP=$E2E_TMP/flip.cfi
cp "$GOOD" "$FLIP"
for p in "${parts[@]}"; do
  read -r pname pbeg plen <<<"$p"
  declare -A seen=()
  for ((s = 0; s < SAMPLES; s++)); do
    pos=$((pbeg + (SAMPLES > 1 ? s * (plen - 1) / (SAMPLES - 1) : plen / 2)))
    [[ -z ${seen[$pos]:-} ]] || continue
    seen[$pos]=1
    flip "$FLIP" "$pos"
    rc=0
    timeout 60 "$CATIMG" verify "$FLIP" >"$E2E_TMP/v.out" 2>&1 || rc=$?
    flip "$FLIP" "$pos" # back to the good byte
    checked=$((checked + 1))
    # The part must be named: segment N, or the header/manifest/arena/relocation(s) word.
    word=${pname%%-*}
    [[ $word == relocations ]] && word=relocation
    # A flipped magic or version byte is named as such, not as "header".
    [[ $word == header ]] && word='header|magic|format'
    if ((rc == 0)); then
      missed+=("$pname@$pos (verify exited 0)")
    elif ((rc >= 124)); then
      missed+=("$pname@$pos (verify exit $rc: $(head -n 1 "$E2E_TMP/v.out"))")
    elif ! grep -qiE -- "$word" "$E2E_TMP/v.out"; then
      missed+=("$pname@$pos (caught, but the output does not name the $word: $(head -n 1 "$E2E_TMP/v.out"))")
    fi
  done
  unset seen
done
cmp -s "$GOOD" "$FLIP" || { echo "FAIL internal: the flip copy did not return to the good bytes"; exit 1; }
if ((${#missed[@]} == 0)); then
  e2e_pass "verify catches every flipped byte: $checked positions across ${#parts[@]} stored parts (${parts[*]})"
else
  e2e_fail "verify missed ${#missed[@]} of $checked flipped bytes: ${missed[*]}"
fi

e2e_finish
