#!/usr/bin/env bash
# image_procfs: an open /proc file survives a checkpoint. `hostile proc-keep` opens
# /proc/self/status and reads its first 6 bytes during init, is captured at its first read of
# stdin (the implicit func-entry point), and once booted — `catload run` of the built image,
# `catload restore` of the checkpoint — reads the rest through the same fd: the file as it was
# generated at open, then a pread at offset 0 that generates it again. `catimg inspect` shows
# that fd as a synthetic file.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

e2e_require_images
e2e_require_fixture hostile
e2e_tmpdir

R=$E2E_TMP/root
mkdir -p "$R"
e2e_image procfs --root "$R" -- "$FIXTURES/hostile" proc-keep || e2e_finish
e2e_image_verify procfs

# check_status CASE FILE RC: the output is a whole /proc/self/status of the guest, read in two
# parts across the snapshot, and the re-read from offset 0 worked.
check_status() {
  local id=$1 out=$2 rc=$3 problems=""
  [[ $rc == 0 ]] || problems+=" exit $rc (want 0);"
  [[ $(head -n 1 "$out") == $'Name:\thostile' ]] || problems+=" first line is not 'Name:<TAB>hostile';"
  grep -qx $'Pid:\t1' "$out" || problems+=" no 'Pid:<TAB>1' line;"
  grep -qx $'TracerPid:\t0' "$out" || problems+=" no 'TracerPid:<TAB>0' line;"
  grep -q '^nonvoluntary_ctxt_switches:' "$out" || problems+=" the status file is cut short;"
  grep -qx $'REREAD Name:\thostile' "$out" || problems+=" no re-read from offset 0;"
  if [[ -z $problems ]]; then
    e2e_pass "$id: the open /proc/self/status reads on after the snapshot"
  else
    e2e_fail "$id" "$problems"
    e2e_show "stdout" "$out" 10
    e2e_show "stderr" "${out%.out}.err" 10
  fi
}

e2e_image_run procfs run x
check_status procfs.run "$E2E_TMP/procfs.run.out" "$E2E_RC"

printf 'x\n' >"$E2E_TMP/procfs.restore.stdin"
timeout -k 5 "$E2E_TIMEOUT" "$CATLOAD" restore --rootfs "$R" "$E2E_TMP/procfs.core" \
  <"$E2E_TMP/procfs.restore.stdin" >"$E2E_TMP/procfs.restore.out" 2>"$E2E_TMP/procfs.restore.err"
check_status procfs.restore "$E2E_TMP/procfs.restore.out" $?

if "$CATIMG" inspect "$E2E_TMP/procfs.cfi" >"$E2E_TMP/procfs.inspect" 2>&1 &&
  grep -qE 'synthetic.*/proc/1/status' "$E2E_TMP/procfs.inspect"; then
  e2e_pass "procfs: catimg inspect shows the open /proc/1/status as a synthetic file"
else
  e2e_fail "procfs.inspect" "catimg inspect does not show fd 3 as synthetic /proc/1/status"
  e2e_show "inspect" "$E2E_TMP/procfs.inspect" 30
fi

e2e_finish
