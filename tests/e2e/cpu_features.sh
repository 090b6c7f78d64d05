#!/usr/bin/env bash
# cpu_features: images that travel between machines (spec/func-image.md, "CPU features").
# Capture records the CPUID feature leaves and the XSAVE state the guest could observe in the
# checkpoint (note 0xca700004) and catimg build carries them into the func-image (format 1.2);
# catimg inspect shows them (text and --json). An image or checkpoint that asks for a feature
# this host lacks — made here by setting one bit this CPU does not have, chosen at test time
# from the features the host's own capture recorded, with cfi_mutate (which reseals every
# checksum) or by patching the checkpoint's note — is refused on every boot path that maps it
# (cold, warm, fork, restore) with one line naming the feature, and runs nothing.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

e2e_require_images
e2e_require_fixture hello
[[ -x ${CFI_MUTATE:-} ]] || e2e_setup_fail "cfi_mutate not found at ${CFI_MUTATE:-} (build the cfi_mutate target)"
command -v python3 >/dev/null 2>&1 || e2e_skip "python3 not found (inspect --json and the checkpoint patch need it)"
e2e_tmpdir
T=$E2E_TMP
ok_if() { if [[ $1 == 0 ]]; then e2e_pass "$2"; else e2e_fail "$2"; fi; }

e2e_image hello -- "$FIXTURES/hello" || e2e_finish
"$CATIMG" inspect "$T/hello.cfi" --json >"$T/inspect.json" || e2e_setup_fail "catimg inspect --json failed"
python3 - "$T/inspect.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))["cpu"]
assert c["recorded"] and c["vendor"], c
assert "sse2" in c["features"] and "lm" in c["features"], c["features"]
assert c["missing_on_this_host"] == [], c
assert ("xsave" in c["features"]) == (c["xsave_size"] > 0), c
PY
ok_if $? "inspect --json: the CPU record (vendor, sse2, lm, xsave size), nothing missing on this host"
"$CATIMG" inspect "$T/hello.cfi" >"$T/inspect.txt"
grep -q '^cpu features' "$T/inspect.txt" && grep -Eq '^  on this host +all present' "$T/inspect.txt" &&
  grep -Eq '^  features +fpu .*sse2' "$T/inspect.txt"
ok_if $? "inspect text: cpu features section, all present on this host"

# A feature this CPU lacks, with the manifest register and bit that hold it.
read -r FEATURE REG BIT < <(python3 - "$T/inspect.json" <<'PY'
import json, sys
have = set(json.load(open(sys.argv[1]))["cpu"]["features"])
for name, reg, bit in [("amx_tile", "leaf7_edx", 24), ("avx512_fp16", "leaf7_edx", 23),
                       ("amx_int8", "leaf7_edx", 25), ("serialize", "leaf7_edx", 14),
                       ("avx_vnni", "leaf7_1_eax", 4), ("waitpkg", "leaf7_ecx", 5),
                       ("movdiri", "leaf7_ecx", 27), ("avx512f", "leaf7_ebx", 16),
                       ("xop", "ext1_ecx", 11), ("fma4", "ext1_ecx", 16), ("tbm", "ext1_ecx", 21),
                       ("avx2", "leaf7_ebx", 5)]:
    if name not in have:
        print(name, reg, bit)
        break
PY
)
[[ -n ${FEATURE:-} ]] || e2e_setup_fail "this CPU has every candidate feature; add one to the list"
old=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["cpu"][sys.argv[2]])' "$T/inspect.json" "$REG")
"$CFI_MUTATE" "$T/hello.cfi" -o "$T/needs.cfi" --manifest "cpu.$REG=$((old | (1 << BIT)))" >"$T/mutate.out" 2>&1 ||
  e2e_setup_fail "cfi_mutate failed: $(cat "$T/mutate.out")"
echo "crafted: the image needs $FEATURE ($REG bit $BIT), which this CPU lacks"

WANT="image needs $FEATURE; this CPU lacks it: rebuild on this machine type or capture with a narrower CPU profile"
# refused CASE STAGE CMD...: must exit non-zero, print nothing on stdout, and one stderr line
# "catload: STAGE: $WANT".
refused() {
  local case=$1 stage=$2 want=${WANT_LINE:-$WANT}
  shift 2
  echo req | "$@" >"$T/$case.out" 2>"$T/$case.err"
  local rc=$?
  if [[ $rc != 0 && ! -s $T/$case.out && $(wc -l <"$T/$case.err") == 1 ]] &&
    grep -qxF "catload: $stage: $want" "$T/$case.err"; then
    e2e_pass "$case refused (exit $rc): $(cat "$T/$case.err")"
  else
    e2e_fail "$case" "want a non-zero exit, no output and the line 'catload: $stage: $want'; got exit $rc"
    e2e_show "stdout" "$T/$case.out" 5
    e2e_show "stderr" "$T/$case.err" 5
  fi
}
refused cold "cold boot" "$CATLOAD" run "$T/needs.cfi"
refused warm "warm boot" "$CATLOAD" run --boot warm --repeat 2 "$T/needs.cfi"
refused fork "warm boot" "$CATLOAD" run --boot fork --repeat 2 "$T/needs.cfi"
python3 -c 'import json,sys; assert json.load(sys.stdin)["cpu"]["missing_on_this_host"] == [sys.argv[1]]' "$FEATURE" \
  < <("$CATIMG" inspect "$T/needs.cfi" --json)
ok_if $? "inspect --json of the crafted image: missing_on_this_host is [$FEATURE]"
"$CATIMG" inspect "$T/needs.cfi" | grep -Eq "^  on this host +lacks $FEATURE\$"
ok_if $? "inspect text of the crafted image: on this host lacks $FEATURE"
[[ $(echo world | "$CATLOAD" run "$T/hello.cfi" 2>/dev/null) == "hello, world" ]]
ok_if $? "control: the uncrafted image boots"

# The checkpoint: the same bit set in its CPU note (a core has no checksums to reseal).
python3 - "$T/hello.core" "$T/needs.core" "$REG" "$BIT" <<'PY'
import struct, sys
src, dst, reg, bit = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
data = bytearray(open(src, "rb").read())
phoff, = struct.unpack_from("<Q", data, 32)
phnum, = struct.unpack_from("<H", data, 56)
regs = ["leaf1_ecx", "leaf1_edx", "leaf7_ebx", "leaf7_ecx", "leaf7_edx", "leaf7_1_eax",
        "leafd_1_eax", "ext1_ecx", "ext1_edx"]
done = False
for i in range(phnum):
    p_type, _, p_offset, _, _, p_filesz = struct.unpack_from("<IIQQQQ", data, phoff + 56 * i)
    if p_type != 4:  # PT_NOTE
        continue
    pos, end = p_offset, p_offset + p_filesz
    while pos + 12 <= end:
        namesz, descsz, ntype = struct.unpack_from("<III", data, pos)
        desc = pos + 12 + (namesz + 3) // 4 * 4
        if ntype == 0xca700004:
            vlen, = struct.unpack_from("<I", data, desc + 4)
            at = desc + 8 + vlen + 4 * regs.index(reg)
            v, = struct.unpack_from("<I", data, at)
            struct.pack_into("<I", data, at, v | (1 << bit))
            done = True
        pos = desc + (descsz + 3) // 4 * 4
assert done, "no CPU note in the checkpoint"
open(dst, "wb").write(data)
PY
ok_if $? "checkpoint CPU note patched"
WANT_LINE="checkpoint needs $FEATURE; this CPU lacks it: rebuild on this machine type or capture with a narrower CPU profile" \
  refused restore restore "$CATLOAD" restore "$T/needs.core"
"$CATIMG" build "$T/needs.core" -o "$T/built-from-needs.cfi" >/dev/null 2>&1
ok_if $? "catimg build compiles a checkpoint from another machine type (it does not boot it)"
refused built-from-core "cold boot" "$CATLOAD" run "$T/built-from-needs.cfi"
e2e_finish
