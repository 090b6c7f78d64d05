#!/usr/bin/env bash
# image_reconnect: on-demand I/O reconnection. many_files opens 1,000 host files of a rootfs
# during init and keeps them open across the snapshot; every request reads one of them through
# its old fd. Checks: correct content after capture -> build -> run; `--stats=json` shows the
# eager reconnect stage with --reconnect=eager and none with lazy; a file changed on the host
# after capture (size, mtime only, deleted) reads as EIO with one stderr line naming the file
# and why, while the other files still work.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

N=1000
e2e_require_images
e2e_require_fixture many_files
e2e_tmpdir

R=$E2E_TMP/root
mkdir -p "$R/data"
# Files of different sizes and contents, so a mix-up between fds shows.
awk -v n="$N" -v dir="$R/data" 'BEGIN {
  for (i = 0; i < n; i++) {
    s = ""
    for (j = 0; j < i % 37; j++) s = s substr("abcdefghijklmnopqrstuvwxyz", i % 26 + 1, 1)
    f = dir "/f" i
    print "file " i " " s > f
    close(f)
  }
}'

e2e_image many_files --root "$R" --catload-opt --max-fds=4096 \
  -- "$FIXTURES/many_files" @ROOT@/data "$N" || e2e_finish
e2e_image_verify many_files

e2e_image_compare many_files first --rc 0 --input 0
e2e_image_compare many_files last --rc 0 --input 999
e2e_image_compare many_files several --rc 0 --input $'500\n17\n3\n17'
e2e_image_compare many_files sum --rc 0 --input sum
e2e_image_compare many_files bad-requests --rc 1 --input $'1000\nx\n5'
e2e_image_compare many_files eager --rc 0 --input $'5\n998' --run-opt=--reconnect=eager
e2e_image_compare many_files restore --restore --rc 0 --input $'42\n999'

# --- stats: the eager reconnect stage is there with eager and absent with lazy ---
# json_stages FILE: the stage names of the last JSON line on FILE, one per line.
json_stages() {
  grep '^{' "$1" | tail -n 1 | python3 -c 'import json, sys
print("\n".join(json.load(sys.stdin)["stages_ns"]))'
}
# json_stage_ns FILE PATTERN: nanoseconds of the first stage whose name contains PATTERN.
json_stage_ns() {
  grep '^{' "$1" | tail -n 1 | python3 -c 'import json, sys
st = json.load(sys.stdin)["stages_ns"]
print(next((v for k, v in st.items() if sys.argv[1] in k), ""))' "$2"
}
if ! command -v python3 >/dev/null 2>&1; then
  e2e_partial_skip "python3 not found: the --stats=json checks are skipped"
else
  for mode in lazy eager; do
    e2e_image_run many_files "stats-$mode" 5 --stats=json --reconnect=$mode
    echo "--stats=json --reconnect=$mode: $(grep '^{' "$E2E_TMP/many_files.stats-$mode.err" | tail -n 1)"
    if [[ $E2E_RC != 0 ]] || ! grep -q '^file 5 ' "$E2E_TMP/many_files.stats-$mode.out" ||
      ! json_stages "$E2E_TMP/many_files.stats-$mode.err" >"$E2E_TMP/stages-$mode.txt" 2>"$E2E_TMP/stages-$mode.err"; then
      e2e_fail "stats-$mode" "want exit 0, 'file 5 ...' on stdout and a JSON line with stages_ns on stderr; got exit $E2E_RC"
      echo "  command: $E2E_CMD"
      e2e_show "stdout" "$E2E_TMP/many_files.stats-$mode.out" 5
      e2e_show "stderr" "$E2E_TMP/many_files.stats-$mode.err" 10
      e2e_show "json error" "$E2E_TMP/stages-$mode.err" 5
    fi
  done
  if [[ -s $E2E_TMP/stages-eager.txt ]]; then
    eager_ns=$(json_stage_ns "$E2E_TMP/many_files.stats-eager.err" reconnect)
    if [[ -n $eager_ns ]] && ((eager_ns > 0)); then
      e2e_pass "stats-eager: reconnect stage of $N files took $eager_ns ns"
    else
      e2e_fail "stats-eager" "no stage named '*reconnect*' with a time > 0 in --reconnect=eager stats; stages: $(tr '\n' ',' <"$E2E_TMP/stages-eager.txt")"
    fi
  fi
  if [[ -f $E2E_TMP/stages-lazy.txt ]]; then
    if grep -q reconnect "$E2E_TMP/stages-lazy.txt"; then
      e2e_fail "stats-lazy" "--reconnect=lazy reports a boot stage '$(grep reconnect "$E2E_TMP/stages-lazy.txt")': lazy must not reconnect at boot"
    else
      e2e_pass "stats-lazy: no reconnect stage at boot"
    fi
  fi
fi

# --- files changed on the host after capture ---
# expect_eio CASE FILE INPUT WHY-PATTERN: every request in INPUT is for FILE, which must read
# as EIO (stdout "error: FILE: Input/output error" per request, exit 1) and stderr must be
# exactly one line, naming FILE and matching WHY-PATTERN (extended regex).
expect_eio() {
  local case=$1 file=$2 input=$3 why=$4
  e2e_image_run many_files "$case" "$input"
  local base=$E2E_TMP/many_files.$case want_lines bad=""
  want_lines=$(grep -c . <<<"$input")
  [[ $E2E_RC == 1 ]] || bad+="exit $E2E_RC (want 1); "
  [[ $(grep -cx "error: $file: Input/output error" "$base.out") == "$want_lines" ]] ||
    bad+="stdout is not $want_lines x 'error: $file: Input/output error'; "
  [[ $(grep -c . "$base.err") == 1 ]] || bad+="$(grep -c . "$base.err") stderr lines (want 1); "
  grep -q "/data/$file\b" "$base.err" || bad+="stderr does not name /data/$file; "
  grep -Eq "$why" "$base.err" || bad+="stderr does not say why (/$why/); "
  if [[ -z $bad ]]; then
    e2e_pass "$case: $(head -n 1 "$base.err")"
  else
    e2e_fail "$case" "$bad"
    echo "  command: $E2E_CMD"
    e2e_show "stdout" "$base.out" 10
    e2e_show "stderr" "$base.err" 10
  fi
}

# A size change.
echo "f7 grew after the capture" >"$R/data/f7"
expect_eio changed-size f7 7 'size|chang'
# Read twice in one run: still one log line (the fd stays broken; it is not re-checked).
expect_eio changed-size-twice f7 $'7\n7' 'size|chang'
# Other files still work, in separate runs and in the same run after the failure.
e2e_image_compare many_files other-after-change --rc 0 --input $'8\n6'
e2e_image_run many_files mixed $'7\n8'
if [[ $E2E_RC == 1 && $(cat "$E2E_TMP/many_files.mixed.out") == "error: f7: Input/output error"$'\n'"$(cat "$R/data/f8")" ]]; then
  e2e_pass "mixed: f7 fails with EIO, then f8 is read correctly in the same run"
else
  e2e_fail "mixed" "want exit 1, 'error: f7: Input/output error' then f8's content; got exit $E2E_RC"
  echo "  command: $E2E_CMD"
  e2e_show "stdout" "$E2E_TMP/many_files.mixed.out" 5
  e2e_show "stderr" "$E2E_TMP/many_files.mixed.err" 5
fi

# Same size and content, only the mtime differs: the message must say it is the mtime.
touch -d '2001-02-03 04:05:06' "$R/data/f9"
expect_eio changed-mtime f9 9 'mtime|modif'
# Deleted.
rm "$R/data/f10"
expect_eio deleted f10 10 'ENOENT|No such file|vanish|missing|deleted'

# Put f10 back with its old content (a new file: new mtime and inode, still EIO in the guest),
# so that the native reference run can open all N files again.
printf 'file 10 %s\n' "$(printf 'k%.0s' {1..10})" >"$R/data/f10"
expect_eio recreated f10 10 'mtime|modif|chang|inode'

# Eager reconnection with changed files: the boot still succeeds, untouched files still work.
e2e_image_compare many_files eager-after-change --rc 0 --input $'11\n12' --run-opt=--reconnect=eager

e2e_finish
