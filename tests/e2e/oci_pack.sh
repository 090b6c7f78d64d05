#!/usr/bin/env bash
# oci_pack: `catimg pack` and `catimg unpack` (spec/oci.md). A function captured with a rootfs
# (files, a symlink) and a read-only mount whose files it holds open across the snapshot is
# packed into an OCI image layout. Checks: packing twice (into another layout, and again into
# the same one) gives the same digests, zstd and gzip alike; the unpacked tree boots and
# answers like the original image (the held files reconnect: sizes and nanosecond mtimes
# survived); a tampered blob and a wrong diff_id are refused in one line, leaving nothing
# behind; crafted layers ('..', an absolute path, a path through a symlink, a hard link out, a
# device) and layers whose compressed stream is damaged behind a matching digest are refused
# and write nothing outside; skopeo inspects and copies the image and
# umoci unpacks the gzip variant (both are in scripts/setup-deps.sh: CI runs these parts).
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

e2e_require_images
e2e_require_fixture many_files
for s in pack unpack; do e2e_require_subcommand "$CATIMG" "$s"; done
command -v python3 >/dev/null 2>&1 || e2e_skip "python3 not found (the crafted layouts are written with it)"
e2e_tmpdir
T=$E2E_TMP
# ok_if RC WHAT: a pass when RC (the status of the check just run) is 0.
ok_if() { if [[ $1 == 0 ]]; then e2e_pass "$2"; else e2e_fail "$2"; fi; }

R=$T/root M=$T/mnt
mkdir -p "$R/etc" "$M/data"
echo "hello from the rootfs" >"$R/etc/motd"
ln -s /etc/motd "$R/motd-link"
for i in $(seq 0 19); do printf 'file %d %s\n' "$i" "$(head -c $((i * 7)) /dev/zero | tr '\0' x)" >"$M/data/f$i"; done
e2e_image mf --root "$R" --mount "$M:/m:ro" -- "$FIXTURES/many_files" /m/data 20 || e2e_finish

# digests OUT: the manifest digest of tag t in layout OUT.
manifest_of() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' "$1/index.json"; }

# --- reproducible: pack twice, same digests (zstd and gzip) ---
for comp in zstd gzip; do
  "$CATIMG" pack "$T/mf.cfi" --compression $comp -o "oci:$T/a-$comp:t" >"$T/pack-a-$comp.out" 2>&1
  rc1=$?
  sleep 1 # a different second: a timestamp anywhere would show
  "$CATIMG" pack "$T/mf.cfi" --compression $comp -o "oci:$T/b-$comp:t" >"$T/pack-b-$comp.out" 2>&1
  rc2=$?
  cp "$T/a-$comp/index.json" "$T/index-before"
  "$CATIMG" pack -q "$T/mf.cfi" --compression $comp -o "oci:$T/a-$comp:t" >/dev/null 2>&1
  rc3=$?
  if [[ $rc1 == 0 && $rc2 == 0 && $rc3 == 0 ]] && [[ $(manifest_of "$T/a-$comp") == "$(manifest_of "$T/b-$comp")" ]] &&
    diff -r "$T/a-$comp/blobs" "$T/b-$comp/blobs" >/dev/null && cmp -s "$T/index-before" "$T/a-$comp/index.json"; then
    e2e_pass "pack $comp twice: same manifest $(manifest_of "$T/a-$comp" | cut -c1-19)..., same blobs, same index"
  else
    e2e_fail "pack-reproducible-$comp" "exit $rc1/$rc2/$rc3, manifests $(manifest_of "$T/a-$comp" 2>/dev/null) vs $(manifest_of "$T/b-$comp" 2>/dev/null)"
    e2e_show "first pack" "$T/pack-a-$comp.out" 20
  fi
done
grep -q 'layer 3   func-image /.catalyzer/function.cfi' "$T/pack-a-zstd.out" &&
  grep -q 'layer 2   mount      /m ' "$T/pack-a-zstd.out" && grep -q 'layer 1   rootfs     / ' "$T/pack-a-zstd.out"
ok_if $? "pack summary names the rootfs, mount and func-image layers"
python3 - "$T/a-zstd" <<'PY'
import json, sys
d = sys.argv[1]
m = json.load(open(d + "/blobs/sha256/" + json.load(open(d + "/index.json"))["manifests"][0]["digest"][7:]))
assert [l["mediaType"] for l in m["layers"]] == ["application/vnd.oci.image.layer.v1.tar+zstd"] * 3, m
assert m["annotations"]["dev.catalyzer.function.name"] == "many_files", m["annotations"]
assert m["annotations"]["dev.catalyzer.function.mounts"] == '["/m:ro"]'
c = json.load(open(d + "/blobs/sha256/" + m["config"]["digest"][7:]))
assert len(c["rootfs"]["diff_ids"]) == 3 and "created" not in c
assert c["config"]["Labels"] == m["annotations"]
PY
ok_if $? "manifest: zstd layers, dev.catalyzer annotations equal to the config labels, 3 diff_ids, no created time"

# --- round trip: unpack, boot the unpacked tree, same answers as the original image ---
"$CATIMG" unpack "oci:$T/a-zstd:t" -o "$T/u" >"$T/unpack.out" 2>&1
ok_if $? "unpack exits 0"
cmp -s "$T/mf.cfi" "$T/u/.catalyzer/function.cfi"
ok_if $? "unpacked func-image is byte for byte the packed one"
[[ $(readlink "$T/u/motd-link") == /etc/motd && $(cat "$T/u/etc/motd") == "hello from the rootfs" ]]
ok_if $? "rootfs symlink and file restored"
[[ $(stat -c %y "$M/data/f7") == "$(stat -c %y "$T/u/m/data/f7")" ]]
ok_if $? "mount file mtime restored to the nanosecond"
for req in sum 7 $'19\n0'; do
  printf '%s\n' "$req" | "$CATLOAD" run --rootfs "$R" --mount "$M:/m:ro" "$T/mf.cfi" >"$T/orig.out" 2>"$T/orig.err"
  rc_o=$?
  printf '%s\n' "$req" | "$CATLOAD" run --rootfs "$T/u" --mount "$T/u/m:/m:ro" "$T/u/.catalyzer/function.cfi" >"$T/rt.out" 2>"$T/rt.err"
  rc_u=$?
  if [[ $rc_o == 0 && $rc_u == 0 ]] && cmp -s "$T/orig.out" "$T/rt.out" && [[ -s $T/rt.out ]]; then
    e2e_pass "round trip: request '${req//$'\n'/ }' answered the same from the unpacked image"
  else
    e2e_fail "round-trip" "request '$req': exit $rc_o (original) vs $rc_u (unpacked)"
    e2e_show "unpacked stderr" "$T/rt.err" 10
  fi
done
grep -q "boot it with: catload run --rootfs $T/u --mount $T/u/m:/m:ro $T/u/.catalyzer/function.cfi" "$T/unpack.out"
ok_if $? "unpack prints the catload run line that boots it"

# refused OUT CASE PATTERN [UNPACK OPTIONS]: unpack of layout OUT must exit 1 with one stderr
# line matching PATTERN and leave neither the output nor a staging directory.
refused() {
  local layout=$1 case=$2 pattern=$3 dest=$T/out-$2
  "$CATIMG" unpack "${@:4}" "oci:$layout:t" -o "$dest" >"$T/$case.out" 2>"$T/$case.err"
  local rc=$?
  if [[ $rc == 1 && $(wc -l <"$T/$case.err") == 1 ]] && grep -q -- "$pattern" "$T/$case.err" &&
    [[ ! -e $dest ]] && ! compgen -G "$T/.out-$case.unpack-*" >/dev/null; then
    e2e_pass "$case refused: $(cat "$T/$case.err")"
  else
    e2e_fail "$case" "want exit 1 and one line matching '$pattern', nothing left; got exit $rc"
    e2e_show "stderr" "$T/$case.err" 5
  fi
}

# --- a tampered blob: one byte of the mount layer changed ---
cp -r "$T/b-zstd" "$T/tampered"
layer2=$(python3 -c 'import json,sys; d=sys.argv[1]; m=json.load(open(d+"/blobs/sha256/"+json.load(open(d+"/index.json"))["manifests"][0]["digest"][7:])); print(m["layers"][1]["digest"][7:])' "$T/tampered")
chmod u+w "$T/tampered/blobs/sha256/$layer2"
printf 'X' | dd of="$T/tampered/blobs/sha256/$layer2" bs=1 seek=30 conv=notrunc 2>/dev/null
refused "$T/tampered" tampered-blob "layer 2: blob sha256:$layer2 does not match its digest"

# --- crafted layers: hostile entries refused, nothing written outside ---
mkdir -p "$T/jail"
for case in dotdot absolute through hardlink device bad-diffid bad-zstd bad-gzip ok bomb padding declared entries longname; do
  python3 "$SOURCE_DIR/tests/e2e/lib/oci_craft.py" "$T/craft-$case" "$case" || e2e_setup_fail "oci_craft.py $case failed"
done
refused "$T/craft-dotdot" dotdot "entry '../escape': '..' in the path"
refused "$T/craft-absolute" absolute "entry '/abs-escape': absolute path"
refused "$T/craft-through" through "entry 'l/escape': goes through the symlink 'l'"
refused "$T/craft-hardlink" hardlink "entry 'h': hard link: '..' in the path"
refused "$T/craft-device" device "entry 'null': a character device"
refused "$T/craft-bad-diffid" bad-diffid "layer 1: uncompressed digest does not match the config's diff_id"
# Streams that fail to decompress, behind digests that match: refused, no crash.
refused "$T/craft-bad-zstd" bad-zstd "layer 1: zstd: "
refused "$T/craft-bad-gzip" bad-gzip "layer 1: "
# Decompression bombs and floods: bounded, over all layers (spec/oci.md, "Unpacking").
refused "$T/craft-bomb" bomb "layer 1: entry 'zeros': the image's files would hold more than 8 MiB (a decompression bomb?" --max-unpacked-size 8M
refused "$T/craft-padding" padding "layer 1: the image's layers unpack to more than 8 MiB (a decompression bomb?" --max-unpacked-size 8M
refused "$T/craft-declared" declared "entry 'huge': the image's files would hold more than 16 GiB"
refused "$T/craft-entries" entries "layer 1: the image has more than 1000 entries (catimg unpack --max-entries)" --max-entries 1000
refused "$T/craft-longname" longname "entry 'nnnn.*': a name longer than 4095 bytes"
"$CATIMG" unpack "oci:$T/craft-bomb:t" -o "$T/out-bomb-ok" >/dev/null 2>"$T/bomb-ok.err" &&
  [[ $(stat -c %s "$T/out-bomb-ok/zeros") == $((40 << 20)) ]] &&
  "$CATIMG" unpack --max-entries 2001 "oci:$T/craft-entries:t" -o "$T/out-entries-ok" >/dev/null 2>>"$T/bomb-ok.err"
ok_if $? "control: the 40 MiB bomb unpacks under the default limit, the 2001-entry layer under --max-entries 2001"
rm -rf "$T/out-bomb-ok"
# On a terminal (script(1) gives one): progress in bytes within a layer, as a big layer unpacks.
script -qec "$(printf '%q ' "$CATIMG" unpack "oci:$T/craft-bomb:t" -o "$T/out-tty")" /dev/null >"$T/tty.out" 2>&1
grep -q 'catimg unpack: layer 1 of 1: [0-9.]* MiB' "$T/tty.out"
ok_if $? "unpack on a terminal: progress within the 40 MiB layer, in bytes"
rm -rf "$T/out-tty"
[[ ! -e $T/escape && ! -e /abs-escape && ! -e $T/outside ]]
ok_if $? "no crafted entry reached outside the output directory"
"$CATIMG" unpack "oci:$T/craft-ok:t" -o "$T/out-ok" >/dev/null 2>"$T/ok.err" && [[ $(cat "$T/out-ok/fine") == fine ]]
ok_if $? "control: the harmless crafted layout unpacks"

# --- the real OCI tools ---
if command -v skopeo >/dev/null 2>&1; then
  skopeo inspect "oci:$T/a-zstd:t" >"$T/skopeo.json" 2>"$T/skopeo.err" &&
    python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["Labels"]["dev.catalyzer.function.name"]=="many_files" and len(j["Layers"])==3' "$T/skopeo.json"
  ok_if $? "skopeo inspect oci:DIR:TAG reads the labels and 3 layers"
  skopeo copy "oci:$T/a-zstd:t" "dir:$T/skopeo-dir" >"$T/copy.out" 2>&1 &&
    skopeo copy "oci:$T/a-zstd:t" "oci:$T/skopeo-oci:t" >>"$T/copy.out" 2>&1 &&
    "$CATIMG" unpack "oci:$T/skopeo-oci:t" -o "$T/u2" >/dev/null 2>>"$T/copy.out" &&
    cmp -s "$T/mf.cfi" "$T/u2/.catalyzer/function.cfi"
  ok_if $? "skopeo copy to dir: and to oci:, and catimg unpack of skopeo's copy"
  [[ $E2E_FAILS == 0 ]] || e2e_show "skopeo" "$T/copy.out" 10
else
  e2e_partial_skip "skopeo not found (scripts/setup-deps.sh installs it): skopeo inspect/copy not checked"
fi
if command -v umoci >/dev/null 2>&1; then
  # umoci 0.4 reads gzip layers only: the --compression gzip variant is what older clients get.
  umoci unpack --rootless --image "$T/a-gzip:t" "$T/bundle" >"$T/umoci.out" 2>&1 &&
    cmp -s "$T/mf.cfi" "$T/bundle/rootfs/.catalyzer/function.cfi" &&
    [[ $(stat -c %y "$M/data/f3") == "$(stat -c %y "$T/bundle/rootfs/m/data/f3")" ]]
  ok_if $? "umoci unpack of the gzip image: func-image and mount files, mtimes kept"
else
  e2e_partial_skip "umoci not found (scripts/setup-deps.sh installs it): umoci unpack not checked"
fi
e2e_finish
