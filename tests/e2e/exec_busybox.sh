#!/usr/bin/env bash
# exec_busybox: Debian's static busybox applets give the same stdout and exit code under
# `catload exec` as natively. A table of pure-computation applets with stdin, files read from
# the rootfs (relative paths, and guest paths like /data.txt), directory listing, environment,
# a write that must stay in the guest's in-memory overlay, and nonzero exits.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

BUSYBOX=${BUSYBOX:-/bin/busybox}
e2e_require_catload
[[ -x $BUSYBOX ]] || e2e_skip "$BUSYBOX not found (apt-get install busybox-static)"
file -L "$BUSYBOX" 2>/dev/null | grep -q 'statically linked' ||
  e2e_skip "$BUSYBOX is not statically linked (install busybox-static, not busybox)"
e2e_tmpdir

# The rootfs the guest sees as /. Natively the runs use it as cwd, so relative paths match.
R=$E2E_TMP/rootfs
# dev/, proc/ and tmp/ exist as in any real rootfs: catload provides its own /dev, /proc and
# /tmp in the guest, so a listing of / only matches the native one when the host rootfs has them.
mkdir -p "$R/sub/deeper" "$R/dev" "$R/proc" "$R/tmp"
cat >"$R/data.txt" <<'TXT'
alpha 3 red
bravo 1 green
charlie 4 blue
delta 1 red
echo 5 green
foxtrot 9 blue
golf 2 red
# a comment line
hotel 6 green
TXT
printf 'id,name,score\n1,ann,90\n2,bob,75\n3,cyd,88\n4,dee,75\n' >"$R/table.csv"
printf '%s\n' 10 2 33 4 2 100 7 7 1 >"$R/nums.txt"
printf 'BEGIN { FS = "," } NR > 1 { total += $3; n++ } END { printf "%%d rows, mean %%.2f\\n", n, total / n }\n' >"$R/prog.awk"
# 4 KiB of every byte value, for the binary-safe applets.
for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16; do printf "$(printf '\\%03o' {0..255})"; done >"$R/bin.dat"
echo "nested file" >"$R/sub/deeper/leaf.txt"
gzip -c -n "$R/data.txt" >"$R/data.txt.gz"
(cd "$R" && tar -cf archive.tar --owner=0 --group=0 --mtime=@0 table.csv sub)
cp "$R/data.txt" "$R/data2.txt" && echo "india 7 blue" >>"$R/data2.txt"

# Larger stdin: more than a pipe buffer in both directions.
seq 1 50000 | awk '{ print ($1 * 7919) % 10007, "row" $1 }' >"$E2E_TMP/big.txt"

bb() { # bb NAME [e2e_compare options] -- APPLET ARGS...
  local name=$1
  shift
  local -a opts=()
  while [[ $1 != -- ]]; do opts+=("$1"); shift; done
  shift
  e2e_compare "busybox.$name" --stderr "${opts[@]}" -- "$BUSYBOX" "$@"
}

# --- stdin-only computation ---
bb awk-sum --rc 0 --input $'a 1\nb 2\nc 39' -- awk '{ s += $2 } END { print s, NR }'
# Debian's busybox awk has no libm functions (sqrt...), but does float arithmetic and %g.
bb awk-float --rc 0 --input $'3\n4' -- awk '{ print $1 / 7, int($1 * 2.5); printf "%.3e %g\n", $1 * 1e10, $1 / 3 }'
bb sed-subst --rc 0 --input $'foo bar foo\n# gone\nbaz' -- sed -e 's/foo/qux/g' -e '/^#/d'
bb sort-numeric --rc 0 --stdin "$R/nums.txt" -- sort -n
bb sort-reverse-key --rc 0 --stdin "$R/data.txt" -- sort -r -k2,2n -k1,1
bb sort-big --rc 0 --stdin "$E2E_TMP/big.txt" -- sort -n
bb md5sum-stdin --rc 0 --stdin "$E2E_TMP/big.txt" -- md5sum
bb wc-stdin --rc 0 --stdin "$E2E_TMP/big.txt" -- wc -l -w -c
bb tr-upper --rc 0 --input "Hello, World 123" -- tr 'a-z' 'A-Z'
bb tr-delete-squeeze --rc 0 --input "a1  b22   c333" -- tr -s ' ' -d '0-9'
bb grep-count --rc 0 --stdin "$R/data.txt" -- grep -c red
bb grep-extended --rc 0 --stdin "$R/data.txt" -- grep -E -n '^(a|e|g)[a-z]+ [0-9]'
bb grep-invert --rc 0 --stdin "$R/data.txt" -- grep -v -e red -e '#'
bb grep-no-match --rc 1 --stdin "$R/data.txt" -- grep zulu
bb cat-stdin --rc 0 --stdin "$R/bin.dat" -- cat
bb head-lines --rc 0 --stdin "$E2E_TMP/big.txt" -- head -n 3
bb tail-lines --rc 0 --stdin "$E2E_TMP/big.txt" -- tail -n 4
bb uniq-count --rc 0 --input $'a\na\nb\nc\nc\nc' -- uniq -c
bb cut-fields --rc 0 --stdin "$R/table.csv" -- cut -d, -f2,3
bb od-hex --rc 0 --stdin "$R/bin.dat" -- od -A x -t x1 -N 64
bb base64-encode --rc 0 --stdin "$R/bin.dat" -- base64
bb base64-decode --rc 0 --input "aGVsbG8sIGNhdGFseXplcgo=" -- base64 -d
bb sha256sum-stdin --rc 0 --stdin "$R/bin.dat" -- sha256sum
bb rev --rc 0 --input $'abc\ndef' -- rev
bb tac --rc 0 --stdin "$R/nums.txt" -- tac
bb nl --rc 0 --stdin "$R/data.txt" -- nl
bb fold --rc 0 --input "the quick brown fox jumps over the lazy dog" -- fold -w 10
bb bc --rc 0 --input $'scale=20\n4*a(1)\n2^100' -- bc -l
bb dc --rc 0 --input "2 64 ^ p" -- dc
bb xxd --rc 0 --stdin "$R/bin.dat" -- xxd -l 48

# --- argv-only computation ---
bb expr-mul --rc 0 -- expr 6 '*' 7
bb expr-false --rc 1 -- expr 1 = 2
bb seq --rc 0 -- seq 1 3 20
bb seq-big --rc 0 -- seq 1 200000
bb printf --rc 0 -- printf '%05d|%s|%x\n' 42 x 255
bb factor --rc 0 -- factor 1234567 600851475143
bb date-fixed --rc 0 -- date -u -d @1700000000 '+%Y-%m-%d %H:%M:%S'
bb true --rc 0 -- true
bb false --rc 1 -- false
bb sleep --rc 0 -- sleep 0.1

# --- files read from the rootfs: relative paths (cwd /) and guest paths (/data.txt) ---
bb cat-abs --rc 0 --root "$R" -- cat @ROOT@/data.txt @ROOT@/sub/deeper/leaf.txt
bb head-abs --rc 0 --root "$R" -- head -c 100 @ROOT@/bin.dat
bb sed-file --rc 0 --root "$R" -- sed -n '2,4p' data.txt
bb awk-script-file --rc 0 --root "$R" -- awk -f @ROOT@/prog.awk @ROOT@/table.csv
bb sort-file --rc 0 --root "$R" -- sort -t, -k3,3n -k2,2 table.csv
bb md5sum-files --rc 0 --root "$R" -- md5sum data.txt bin.dat sub/deeper/leaf.txt
bb sha256sum-file --rc 0 --root "$R" -- sha256sum bin.dat
bb wc-files --rc 0 --root "$R" -- wc data.txt nums.txt
bb grep-files --rc 0 --root "$R" -- grep -n blue data.txt data2.txt
# Not `grep -r .`: that would read the guest's /dev/zero forever, and natively dev/ is empty.
bb grep-recursive --rc 0 --root "$R" --sort-output -- grep -r nested sub
bb tail-file --rc 0 --root "$R" -- tail -n 2 @ROOT@/data.txt
bb cmp-differ --rc 1 --root "$R" -- cmp data.txt data2.txt
# From stdin: `zcat FILE` forks a helper (clone), which a single-process sandbox need not offer.
bb gunzip-stdin --rc 0 --stdin "$R/data.txt.gz" -- gunzip -c
bb tar-extract-stdout --rc 0 --root "$R" -- tar -xOf @ROOT@/archive.tar table.csv
bb tar-list --rc 0 --root "$R" -- tar -tf archive.tar
bb stat-size --rc 0 --root "$R" -- stat -c '%s %F %n' data.txt sub bin.dat
bb ls-root --rc 0 --root "$R" -- ls -1 . sub
bb find-names --rc 0 --root "$R" --sort-output -- find . -name '*.txt'
bb stdin-from-file-arg --rc 0 --root "$R" --stdin "$R/nums.txt" -- paste -d: - nums.txt
bb cat-missing --rc 1 --root "$R" -- cat no-such-file.txt
bb grep-missing-file --rc 2 --root "$R" -- grep x @ROOT@/no/such/file
bb ls-missing --rc 1 --root "$R" -- ls does-not-exist

# --- files through a mount instead of the rootfs ---
bb cat-mount --rc 0 --mount "$R:/data:ro" -- cat /data/data.txt /data/sub/deeper/leaf.txt
# A mount point whose parent (/mnt) exists in neither the rootfs nor the default root.
bb cat-mount-nested --rc 0 --mount "$R:/mnt/data:ro" -- cat /mnt/data/sub/deeper/leaf.txt
# od does not print the file name, which differs (host path natively, guest path in catload).
bb od-mount --rc 0 --mount "$R:/data:ro" -- od -A d -t x1 -N 48 -j 100 /data/bin.dat

# --- environment: exactly the --env values, natively `env -i` with the same ---
bb env-empty --rc 0 -- env
bb env-set --rc 0 --env A=1 --env 'B=two words' --env EMPTY= -- env
bb env-unset --rc 0 --env A=1 --env B=2 -- env -u B

# --- a write during the run: visible to the guest itself, never to the host's rootfs ---
W_NATIVE=$E2E_TMP/write-native
W_GUEST=$E2E_TMP/write-guest
mkdir -p "$W_NATIVE" "$W_GUEST"
cp "$R/data.txt" "$W_NATIVE/" && cp "$R/data.txt" "$W_GUEST/"
bb write-then-read --rc 0 --root "$W_NATIVE" --guest-root "$W_GUEST" -- awk '
  { print toupper($1) > "out.txt" }
  END { close("out.txt"); while ((getline line < "out.txt") > 0) print "read back:", line }' data.txt
if [[ -e $W_GUEST/out.txt ]]; then
  echo "FAIL busybox.write-stays-in-overlay: the guest's write reached the host: $W_GUEST/out.txt"
  E2E_FAILS=$((E2E_FAILS + 1))
  E2E_FAILED_NAMES+=(busybox.write-stays-in-overlay)
else
  echo "ok   busybox.write-stays-in-overlay"
  E2E_PASSES=$((E2E_PASSES + 1))
fi

e2e_finish
