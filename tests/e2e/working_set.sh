#!/usr/bin/env bash
# working_set: the copy-on-write tax's removal (spec/boot.md, "The copy-on-write tax").
# lua_fn is built in one step with `catimg build --sample-request`; checks: the image records
# a non-empty write working set, each run inside a writable segment (inspect --json); a default
# `catload run` pre-copies exactly those pages (--stats=json prefault_pages) and takes fewer
# page faults during its run than an unprefaulted one; and every pre-copy strategy answers
# exactly as the native program and as no pre-copy at all, for the sample request and others.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

e2e_require_images
e2e_require_fixture lua_fn
[[ -f $FIXTURES/function.lua ]] || e2e_setup_fail "$FIXTURES/function.lua is missing (build the lua_fn_script target)"
command -v python3 >/dev/null || e2e_setup_fail "python3 is needed to read inspect --json"
e2e_tmpdir

SAMPLE=$E2E_TMP/sample.req
printf 'prefix ab\nnth 1000\nhello world\n' >"$SAMPLE"
e2e_image lua_fn --one-step --mount "$FIXTURES:/fn:ro" --catload-opt --sample-request="$SAMPLE" \
  -- "$FIXTURES/lua_fn" /fn/function.lua || e2e_finish
e2e_image_verify lua_fn

# --- the recorded working set: non-empty, each run inside a writable segment ---
"$CATIMG" inspect --json "$E2E_TMP/lua_fn.cfi" >"$E2E_TMP/inspect.json"
WS=$(python3 - "$E2E_TMP/inspect.json" <<'PY'
import json, sys
img = json.load(open(sys.argv[1]))
ws, segs = img.get("working_set", []), img["segments"]
def inside(r):
    end = r["guest_addr"] + r["pages"] * 4096
    return any(s["prot"][1] == "w" and s["guest_addr"] <= r["guest_addr"] and
               end <= s["guest_addr"] + s["size"] for s in segs)
bad = [r for r in ws if not inside(r)]
print(sum(r["pages"] for r in ws), len(ws), len(bad))
PY
)
read -r WS_PAGES WS_RUNS WS_BAD <<<"$WS"
if ((WS_PAGES > 0 && WS_BAD == 0)); then
  e2e_pass "lua_fn: the sample request's working set is recorded: $WS_PAGES pages in $WS_RUNS runs, all in writable segments"
else
  e2e_fail "lua_fn.working-set" "recorded $WS_PAGES pages in $WS_RUNS runs, $WS_BAD outside writable segments"
fi

# --- a default run pre-copies exactly those pages, and faults less than no pre-copy ---
# stat_of CASE KEY: KEY of the --stats=json object of the run CASE (e2e_image_run).
stat_of() {
  grep '^{' "$E2E_TMP/lua_fn.$1.err" | tail -n 1 | python3 -c 'import json, sys
print(json.load(sys.stdin).get(sys.argv[1], ""))' "$2"
}
e2e_image_run lua_fn stats-recorded "prefix ab" --stats=json
PAGES=$(stat_of stats-recorded prefault_pages) FLT_RECORDED=$(stat_of stats-recorded run_minflt)
e2e_image_run lua_fn stats-none "prefix ab" --stats=json --prefault=none
FLT_NONE=$(stat_of stats-none run_minflt)
if [[ $PAGES == "$WS_PAGES" ]]; then
  e2e_pass "lua_fn: catload run pre-copied the $PAGES recorded pages (stage prefault)"
else
  e2e_fail "lua_fn.prefault-pages" "prefault_pages '$PAGES', the image records $WS_PAGES ($E2E_CMD)"
fi
if [[ -n $FLT_NONE && -n $FLT_RECORDED ]] && ((FLT_RECORDED < FLT_NONE)); then
  e2e_pass "lua_fn: page faults during the run: $FLT_RECORDED pre-copied, $FLT_NONE without"
else
  e2e_fail "lua_fn.faults" "run_minflt '$FLT_RECORDED' pre-copied, '$FLT_NONE' without: want fewer"
fi

# --- every strategy answers as the native program (and so as no pre-copy at all) ---
for s in none recorded writable thp; do
  e2e_image_compare lua_fn "sample-$s" --rc 0 --stdin "$SAMPLE" --run-opt=--prefault=$s
  e2e_image_compare lua_fn "others-$s" --rc 0 --input $'prime 1999993\nword abc\nprefix q' \
    --run-opt=--prefault=$s
done

e2e_finish
