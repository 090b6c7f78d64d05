#!/usr/bin/env bash
# shared_map: writable MAP_SHARED file mappings (fixtures/shared_map) give the same stdout and
# exit code as natively under `catload exec` and after capture -> catimg build -> cold boot
# (what init stored through the mapping is carried as the file's contents, and every request
# starts from them), warm boot and the conventional restore; SQLite in WAL mode (its -shm file
# mmap'd shared, fcntl locks, fsync) likewise; a writable shared mapping of a host file on a rw
# mount reaches the host file, one of a read-only mount never does, and capture refuses to
# carry a writable shared host mapping; fcntl locks; SCM_RIGHTS with its hostile bounds
# (fixtures/fd_passing).
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

e2e_require_images
e2e_require_fixture shared_map
e2e_require_fixture sqlite_fn
e2e_require_fixture fd_passing
e2e_tmpdir
SM=$FIXTURES/shared_map

e2e_compare exec.all --rc 0 --input $'persist\ncount\ncount\ncoherent\npersist\ncount' -- "$SM"
e2e_compare exec.locks --rc 0 --input $'locks\ncoherent\nlocks' -- "$SM"
e2e_compare exec.fd-passing --rc 0 -- "$FIXTURES/fd_passing"
e2e_compare exec.bad --rc 1 --input $'nonsense\npersist' -- "$SM"

if e2e_image shared_map -- "$SM"; then
  e2e_image_verify shared_map
  e2e_image_compare shared_map persist --rc 0 --input $'persist\ncount\ncount'
  # The previous boot's stores are not seen: each boot starts from the snapshot's file.
  e2e_image_compare shared_map again --rc 0 --input $'count\npersist'
  e2e_image_compare shared_map coherent --rc 0 --input $'coherent\npersist\ncount'
  e2e_image_compare shared_map warm --rc 0 --run-opt=--boot=warm --input $'count\ncoherent'
  e2e_image_compare shared_map restore --restore --rc 0 --input $'persist\ncount\ncoherent'
  e2e_image_compare shared_map locks --rc 0 --input $'locks\ncount'
fi

# The same requests with the file on a rw mount: the mapping is the host file's (shared in the
# shell), its stores reach the host file; capture refuses to carry such a mapping.
input=$'persist\ncount\ncoherent\nlocks\npersist'
mkdir -p "$E2E_TMP/rw" "$E2E_TMP/rw-native" "$E2E_TMP/ro"
printf '%s\n' "$input" | env -i TMPDIR="$E2E_TMP/rw-native" "$SM" >"$E2E_TMP/rw.native" 2>&1
printf '%s\n' "$input" | "$CATLOAD" exec --mount "$E2E_TMP/rw:/data:rw" --env TMPDIR=/data -- "$SM" \
  >"$E2E_TMP/rw.guest" 2>"$E2E_TMP/rw.err"
if cmp -s "$E2E_TMP/rw.native" "$E2E_TMP/rw.guest"; then
  e2e_pass "rw mount: a shared mapping of a host file gives native's output"
else
  e2e_fail "rw-mount" "output differs from native: $(diff "$E2E_TMP/rw.native" "$E2E_TMP/rw.guest" | head -5)"
fi
# The guest's stores reach the host file: hold it open at the func-entry point with a capture
# (which must refuse), and look at the host file meanwhile left behind by the refused capture.
"$CATLOAD" capture -o "$E2E_TMP/rw.core" --mount "$E2E_TMP/rw:/data:rw" --env TMPDIR=/data \
  -- "$SM" </dev/null >"$E2E_TMP/rwcap.out" 2>"$E2E_TMP/rwcap.err"
rc=$?
if [[ $rc != 0 && ! -s $E2E_TMP/rw.core ]] &&
  grep -q "writable MAP_SHARED mapping of a host file" "$E2E_TMP/rwcap.err"; then
  e2e_pass "capture refuses a writable shared host mapping (exit $rc, one clear line)"
else
  e2e_fail "rw-capture" "capture exit $rc; stderr: $(head -c 300 "$E2E_TMP/rwcap.err")"
fi
if data=$(ls "$E2E_TMP"/rw/shared_map.*/data 2>/dev/null | head -1) && [[ -n $data ]] &&
  [[ $(dd if="$data" bs=1 skip=4096 count=16 2>/dev/null) == ABCDEFGHIJKLMNOP ]]; then
  e2e_pass "stores through a shared mapping of a rw-mount file reach the host file"
else
  e2e_fail "rw-store" "host file ${data:-missing} lacks what the guest stored through its mapping"
fi
# A read-only mount: the file is the overlay's (copy-up), nothing reaches the host directory.
printf '%s\n' "$input" | "$CATLOAD" exec --mount "$E2E_TMP/ro:/data:ro" --env TMPDIR=/data -- "$SM" \
  >"$E2E_TMP/ro.guest" 2>"$E2E_TMP/ro.err"
if cmp -s "$E2E_TMP/rw.native" "$E2E_TMP/ro.guest" && [[ -z $(ls -A "$E2E_TMP/ro") ]]; then
  e2e_pass "ro mount: the mapped file lives in the overlay, the host directory stays empty"
else
  e2e_fail "ro-mount" "output differs or the host directory was written: $(ls -A "$E2E_TMP/ro" | head -3)"
fi

# SQLite in WAL mode: the database, its -wal and -shm in the overlay.
SQ=$FIXTURES/sqlite_fn
e2e_compare wal.exec --rc 0 \
  --input $'mode\ncount qnrwablk\ninsert zzz 1 2\ninsert zzz 3 4\nrows\ncount zzz\ntop 5' -- "$SQ" wal
if e2e_image sqlite_wal -- "$SQ" wal; then
  e2e_image_verify sqlite_wal
  e2e_image_compare sqlite_wal queries --rc 0 --input $'mode\ncount qnrwablk\nsum 0 1000\nget 3\ntop 5'
  e2e_image_compare sqlite_wal insert --rc 0 --input $'insert zzz 1 2\ninsert zzz 3 4\nrows\ncount zzz'
  e2e_image_compare sqlite_wal after-insert --rc 0 --input $'rows\ncount zzz\ninsert yy 5 6\nrows'
  e2e_image_compare sqlite_wal exit-code --rc 7 --input $'rows\nexit 7\nrows'
  e2e_image_compare sqlite_wal restore --restore --rc 0 --input $'insert q 1 1\nrows\nget 7'
fi

e2e_finish
