#!/usr/bin/env bash
# mutation_campaign.sh: N seeded mutations each of a func-image's arena, of its manifest (both
# with every checksum resealed by cfi_mutate, so only the structural checks can refuse them) and
# of a checkpoint's headers and notes, each run through the tools an operator would point at it:
#   arena, manifest:  catload run --timeout 5, catimg verify, catimg inspect --json
#   checkpoint:       catimg build, catload restore --timeout 5
# Each run is classified (tests/tools/run_status tells a signal from an exit code):
#   crash     killed by a signal, or a sanitizer report on stderr (ASan, UBSan, LSan)
#   hang      still running after the time limit (30 s; catload's own --timeout is 5 s)
#   accepted  exit 0;  refused  any other exit
# and the counts are printed per kind and tool. Every input that crashed or hung a tool is kept
# under the results directory with the tool's stderr. Exit 1 if there was any crash or hang.
#
# Usage: mutation_campaign.sh [--quick] [-n N] [-j JOBS] [--build DIR] [--results DIR]
#   -n N        mutations per kind (default 10000; --quick: 24)
#   -j JOBS     parallel runs (default 2)
#   --build DIR the build whose binaries run (default build-asan if built, else build): run it
#               on the sanitizer build (CATALYZER_SANITIZE=ON) so memory errors are crashes
#   --results DIR  where counts and crashing inputs go (default: a new /tmp/catalyzer-campaign.*)
#   --seed-base S  first seed (default 1): seeds are S .. S+N-1, so a run is reproducible
set -euo pipefail
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
N=10000 JOBS=2 BUILD="" RESULTS="" SEED_BASE=1 QUICK=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --quick) QUICK=1; N=24; shift ;;
    -n) N=$2; shift 2 ;;
    -j) JOBS=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    --results) RESULTS=$2; shift 2 ;;
    --seed-base) SEED_BASE=$2; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "mutation_campaign: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ $N =~ ^[1-9][0-9]*$ && $JOBS =~ ^[1-9][0-9]*$ && $SEED_BASE =~ ^[0-9]+$ ]] ||
  { echo "mutation_campaign: -n, -j and --seed-base take positive integers" >&2; exit 2; }
if [[ -z $BUILD ]]; then
  BUILD=$SRC/build
  [[ -x $SRC/build-asan/bin/catload ]] && BUILD=$SRC/build-asan
fi
BUILD=$(cd "$BUILD" && pwd)
B=$BUILD/bin F=$BUILD/fixtures
for x in "$B/catload" "$B/catimg" "$B/cfi_mutate" "$B/run_status" "$F/hello"; do
  [[ -x $x ]] || { echo "mutation_campaign: $x is missing (build $BUILD first)" >&2; exit 1; }
done
RESULTS=${RESULTS:-$(mktemp -d "${TMPDIR:-/tmp}/catalyzer-campaign.XXXXXX")}
mkdir -p "$RESULTS"/{lines,kept,work}
export B RESULTS
# Sanitizer findings abort the process with a report; leaks are not what this looks for (a
# catload process frees its sandbox state by exiting, by design).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# The originals: one image and one checkpoint of the hello function.
base=$RESULTS/base
mkdir -p "$base"
timeout 120 "$B/catload" capture -o "$base/hello.core" -- "$F/hello" </dev/null >"$base/capture.log" 2>&1 ||
  { echo "mutation_campaign: capture failed: $(tail -n 3 "$base/capture.log")" >&2; exit 1; }
timeout 120 "$B/catimg" build "$base/hello.core" -o "$base/hello.cfi" >"$base/build.log" 2>&1 ||
  { echo "mutation_campaign: catimg build failed: $(tail -n 3 "$base/build.log")" >&2; exit 1; }
printf 'world\n' >"$base/request"
# The checkpoint's mutations land before its first PT_LOAD's bytes: the ELF header, program
# headers and notes are what the readers parse; the memory bytes are only copied.
CORE_LIMIT=$(perl -e 'open my $f, "<:raw", $ARGV[0] or die; read $f, my $h, 64;
  my ($phoff, $phentsize, $phnum) = (unpack("Q<", substr($h, 32, 8)), unpack("v", substr($h, 54, 2)), unpack("v", substr($h, 56, 2)));
  my $min = -s $ARGV[0];
  for my $i (0 .. $phnum - 1) { seek $f, $phoff + $i * $phentsize, 0; read $f, my $p, 56;
    my ($type, $off, $filesz) = (unpack("V", $p), unpack("Q<", substr($p, 8, 8)), unpack("Q<", substr($p, 32, 8)));
    $min = $off if $type == 1 && $filesz > 0 && $off < $min }
  print $min' "$base/hello.core")
export CORE_LIMIT BASE=$base

# one KIND SEED: make mutation SEED of KIND, run each tool on it, write one line per tool:
# "KIND SEED TOOL CLASS DETAIL" to $RESULTS/lines/KIND-SEED.
one() {
  local kind=$1 seed=$2
  local w=$RESULTS/work/$kind-$seed
  mkdir -p "$w"
  local input
  case $kind in
    arena | manifest)
      input=$w/m.cfi
      "$B/cfi_mutate" "$BASE/hello.cfi" -o "$input" "--random-$kind" "$seed" 2>"$w/mutate.err" ||
        { echo "$kind $seed cfi_mutate error $(head -c 200 "$w/mutate.err" | tr '\n' ' ')" >"$RESULTS/lines/$kind-$seed"; rm -rf "$w"; return 0; }
      ;;
    checkpoint)
      input=$w/m.core
      perl -e 'my ($in, $out, $seed, $limit) = @ARGV; srand($seed);
        open my $f, "<:raw", $in or die; local $/; my $d = <$f>; close $f;
        my @vals = (0, 1, 0x7f, 0x80, 0xff, 0xffff, 0x7fffffff, 0xffffffff);
        for (1 .. 1 + int(rand(4))) {
          my $k = int(rand(4)); my $at = int(rand($limit - 8));
          if ($k == 0) { substr($d, $at, 1) = chr(ord(substr($d, $at, 1)) ^ (1 << int(rand(8)))) }
          elsif ($k == 1) { substr($d, $at, 1) = chr(int(rand(256))) }
          elsif ($k == 2) { $at &= ~3; substr($d, $at, 4) = pack("V", $vals[int(rand(@vals))]) }
          else { $at &= ~7; substr($d, $at, 8) = pack("Q<", int(rand(2**32)) * (rand() < 0.5 ? 1 : 2**31)) } }
        open my $o, ">:raw", $out or die; print $o $d' "$BASE/hello.core" "$input" "$seed" "$CORE_LIMIT"
      ;;
  esac
  local -a tools
  if [[ $kind == checkpoint ]]; then tools=(build restore); else tools=(run verify inspect); fi
  local t kind_ rc detail cls
  for t in "${tools[@]}"; do
    local -a cmd
    case $t in
      run) cmd=("$B/catload" run --timeout 5 "$input") ;;
      verify) cmd=("$B/catimg" verify "$input") ;;
      inspect) cmd=("$B/catimg" inspect --json "$input") ;;
      build) cmd=("$B/catimg" build "$input" -o "$w/out.cfi") ;;
      restore) cmd=("$B/catload" restore --timeout 5 "$input") ;;
    esac
    (cd "$w" && exec "$B/run_status" "$w/$t.status" 30 "${cmd[@]}") <"$BASE/request" >/dev/null 2>"$w/$t.err" || true
    read -r kind_ rc _ _ <"$w/$t.status"
    detail=$(head -n 1 "$w/$t.err" | cut -c1-160 | tr -s ' \t' ' ')
    if [[ $kind_ == signal ]] || grep -qE 'AddressSanitizer|UndefinedBehaviorSanitizer|LeakSanitizer|runtime error:' "$w/$t.err"; then
      cls=crash
      detail="$kind_ $rc: $(grep -m1 -E 'ERROR: |runtime error:|SUMMARY:' "$w/$t.err" | cut -c1-160)"
    elif [[ $kind_ == hung ]]; then
      cls=hang
    elif ((rc == 0)); then
      cls=accepted
    else
      cls=refused
    fi
    echo "$kind $seed $t $cls $detail" >>"$RESULTS/lines/$kind-$seed"
    if [[ $cls == crash || $cls == hang ]]; then
      mkdir -p "$RESULTS/kept/$kind-$seed"
      cp "$input" "$w/$t.err" "$RESULTS/kept/$kind-$seed/"
    fi
  done
  rm -rf "$w"
}
export -f one

echo "mutation campaign: $N mutations each of arena, manifest, checkpoint; seeds $SEED_BASE..$((SEED_BASE + N - 1)); -j$JOBS; binaries $B; results $RESULTS"
start=$SECONDS
for kind in arena manifest checkpoint; do
  seq "$SEED_BASE" $((SEED_BASE + N - 1)) | sed "s/^/$kind /"
done | xargs -P "$JOBS" -L 1 bash -c 'one "$0" "$1"'
elapsed=$((SECONDS - start))

# Counts per kind and tool.
cat "$RESULTS"/lines/* >"$RESULTS/all.txt"
echo
printf '%-10s %-8s %8s %8s %8s %8s %8s\n' kind tool runs crash hang accepted refused
awk '{ k = $1 " " $3; runs[k]++; c[k, $4]++; if (!(k in seen)) { seen[k] = 1; order[n++] = k } }
  END { for (i = 0; i < n; i++) { k = order[i]; split(k, p, " ");
    printf "%-10s %-8s %8d %8d %8d %8d %8d\n", p[1], p[2], runs[k], c[k, "crash"], c[k, "hang"], c[k, "accepted"], c[k, "refused"] } }' \
  <(sort -k1,1 -k3,3 -k2,2n "$RESULTS/all.txt") | tee "$RESULTS/counts.txt"
crashes=$(awk '$4 == "crash"' "$RESULTS/all.txt" | wc -l)
hangs=$(awk '$4 == "hang"' "$RESULTS/all.txt" | wc -l)
errors=$(awk '$4 == "error"' "$RESULTS/all.txt" | wc -l)
echo "total: $crashes crashes, $hangs hangs, $errors mutation errors in ${elapsed}s; results in $RESULTS"
if ((crashes + hangs > 0)); then
  echo "first findings (inputs and stderr under $RESULTS/kept/):"
  awk '$4 == "crash" || $4 == "hang"' "$RESULTS/all.txt" | head -n 10 | sed 's/^/  /'
  exit 1
fi
((errors == 0)) || { echo "cfi_mutate failed on some seeds: a bug in the tool"; exit 1; }
exit 0
