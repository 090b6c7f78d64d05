#!/usr/bin/env bash
# image_uniqueness: every instance booted from one snapshot can tell that it is new (spec/abi.md,
# "Uniqueness after restore"). Through the real binaries, with fixtures/uniq_fn (its init reads
# entropy, clocks and the generation; its request prints them next to fresh ones):
# two `catload run`s of one image get different getrandom bytes and different /dev/urandom and
# /dev/random bytes (also through an fd opened before the snapshot), none of them the snapshot's;
# /proc/catalyzer/generation (= /proc/sys/kernel/random/boot_id) is a UUID, stable within an
# instance, different between two runs, between `catload restore`s and from the capture's;
# CLOCK_MONOTONIC and CLOCK_BOOTTIME after restore are at least their captured values, also for
# an image whose snapshot clock is far ahead of this host's (as if captured on a host up for
# longer); CLOCK_REALTIME is the host's.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

e2e_require_images
e2e_require_fixture uniq_fn
[[ -x ${CFI_MUTATE:-} ]] || e2e_setup_fail "cfi_mutate not found at ${CFI_MUTATE:-} (build the cfi_mutate target)"
e2e_tmpdir

# val FILE KEY: the value of KEY=VALUE in FILE.
val() { sed -n "s/^$2=//p" "$1"; }
UUID_RE='^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$'
# report NAME FILE: the run printed a full report (a crashed or refused run is not a pass).
report() {
  if [[ $(grep -c '=' "$2") == 15 ]] && grep -q '^boot_id=' "$2"; then return 0; fi
  e2e_fail "$1: no full report from uniq_fn: $E2E_CMD (exit $E2E_RC)"
  e2e_show stdout "$2" 20
  e2e_show stderr "${2%.out}.err" 10
  return 1
}

# --- one instance: the generation is a UUID and stays the same while it lives ---
echo go | "$CATLOAD" exec -- "$FIXTURES/uniq_fn" >"$E2E_TMP/exec.out" 2>"$E2E_TMP/exec.err"
E2E_RC=$? E2E_CMD="catload exec -- uniq_fn"
if report exec "$E2E_TMP/exec.out"; then
  g=$(val "$E2E_TMP/exec.out" generation)
  e2e_check "exec: generation '$g' is a version-4 UUID" grep -Eq "$UUID_RE" <<<"$g"
  e2e_check "exec: generation is stable within an instance (init '$(val "$E2E_TMP/exec.out" init_generation)', later '$g')" \
    test "$(val "$E2E_TMP/exec.out" init_generation)" = "$g"
  e2e_check "exec: /proc/sys/kernel/random/boot_id is the generation" \
    test "$(val "$E2E_TMP/exec.out" boot_id)" = "$g"
fi

if ! e2e_image uniq_fn -- "$FIXTURES/uniq_fn"; then e2e_finish; fi
e2e_image_run uniq_fn run1 go
report run1 "$E2E_TMP/uniq_fn.run1.out" || e2e_finish
before=$(date +%s)
e2e_image_run uniq_fn run2 go
after=$(date +%s)
report run2 "$E2E_TMP/uniq_fn.run2.out" || e2e_finish
R1=$E2E_TMP/uniq_fn.run1.out R2=$E2E_TMP/uniq_fn.run2.out

# Both runs start from the same snapshot: the init values are the same bytes (else the
# comparisons below would prove nothing).
e2e_check "run1 and run2 boot from one snapshot (same init getrandom bytes $(val "$R1" init_getrandom))" \
  test "$(val "$R1" init_getrandom)" = "$(val "$R2" init_getrandom)"

# --- entropy: fresh host bytes in every instance, never the snapshot's ---
for key in getrandom urandom_open_fd urandom random; do
  a=$(val "$R1" "$key") b=$(val "$R2" "$key")
  e2e_check "$key: two runs of one image read different bytes ($a, $b)" test "$a" != "$b"
done
e2e_check "getrandom after restore is not what the snapshot drew ($(val "$R1" getrandom))" \
  test "$(val "$R1" getrandom)" != "$(val "$R1" init_getrandom)"
e2e_check "/dev/urandom through the fd opened before the snapshot is not the snapshot's bytes" \
  test "$(val "$R1" urandom_open_fd)" != "$(val "$R1" init_urandom)"

# --- the generation: new in every instance ---
g0=$(val "$R1" init_generation) g1=$(val "$R1" generation) g2=$(val "$R2" generation)
e2e_check "generation '$g1' is a version-4 UUID" grep -Eq "$UUID_RE" <<<"$g1"
e2e_check "generation differs between two runs ($g1, $g2)" test "$g1" != "$g2"
e2e_check "generation differs between the capture ($g0) and a run ($g1)" test "$g0" != "$g1"
e2e_check "boot_id is the generation after restore" test "$(val "$R1" boot_id)" = "$g1"
echo go | "$CATLOAD" restore "$E2E_TMP/uniq_fn.core" >"$E2E_TMP/restore1.out" 2>"$E2E_TMP/restore1.err"
echo go | "$CATLOAD" restore "$E2E_TMP/uniq_fn.core" >"$E2E_TMP/restore2.out" 2>"$E2E_TMP/restore2.err"
E2E_RC=$? E2E_CMD="catload restore uniq_fn.core"
if report restore1 "$E2E_TMP/restore1.out" && report restore2 "$E2E_TMP/restore2.out"; then
  r1=$(val "$E2E_TMP/restore1.out" generation) r2=$(val "$E2E_TMP/restore2.out" generation)
  e2e_check "catload restore: generation differs between two restores ($r1, $r2) and from the capture" \
    test "$r1" != "$r2" -a "$r1" != "$g0" -a "$r2" != "$g0"
fi

# --- clocks ---
for c in monotonic boottime; do
  e2e_check "$c after restore ($(val "$R1" ${c}_ns)) >= its captured value ($(val "$R1" init_${c}_ns))" \
    test "$(val "$R1" ${c}_ns)" -ge "$(val "$R1" init_${c}_ns)"
done
rt=$(val "$R2" realtime_s)
e2e_check "CLOCK_REALTIME is the host's ($before <= $rt <= $after)" test "$before" -le "$rt" -a "$rt" -le "$after"

# A snapshot whose guest clock is 10^6 s ahead of this host (captured on a host up for longer):
# the restored guest's monotonic clock continues from it, it does not jump back to this host's.
off=$("$CFI_MUTATE" "$E2E_TMP/uniq_fn.cfi" --info | sed -n 's/^field clocks.snapshot_monotonic_ns \([0-9]*\)$/\1/p')
if [[ -z $off ]]; then
  e2e_fail "cfi_mutate --info names no field clocks.snapshot_monotonic_ns"
else
  ahead=$(($(val "$R1" init_monotonic_ns) + 1000000000000000))
  "$CFI_MUTATE" "$E2E_TMP/uniq_fn.cfi" -o "$E2E_TMP/ahead.cfi" --arena-u64 "$off=$ahead"
  echo go | "$CATLOAD" run "$E2E_TMP/ahead.cfi" >"$E2E_TMP/ahead.out" 2>"$E2E_TMP/ahead.err"
  E2E_RC=$? E2E_CMD="catload run ahead.cfi"
  if report clock-ahead "$E2E_TMP/ahead.out"; then
    for c in monotonic boottime; do
      e2e_check "snapshot clock ahead of the host: $c after restore ($(val "$E2E_TMP/ahead.out" ${c}_ns)) >= the snapshot's ($ahead)" \
        test "$(val "$E2E_TMP/ahead.out" ${c}_ns)" -ge "$ahead"
    done
  fi
fi

e2e_finish
