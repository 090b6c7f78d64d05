#!/usr/bin/env bash
# run_fuzz.sh: the fuzzing CI job. Configures a separate build directory (build-fuzz) with
# clang-16 and CATALYZER_FUZZ=ON (libFuzzer + ASan + UBSan), builds the fuzz targets, makes seeds
# from the fixtures (make_seeds.sh, with the normal build's binaries), and runs each target for
# a bounded time. Fails on any crash, sanitizer report, leak, timeout (hang) or out-of-memory;
# the input that did it is copied into tests/fuzz/regressions/<target>/ (commit it: ctest
# replays it from then on) and the fuzzer's report is printed.
#
# Environment:
#   FUZZ_SECONDS   seconds per target (default 60)
#   FUZZ_TARGETS   which targets (default: func_image checkpoint elf oci_layer oci_bundle)
#   FUZZ_JOBS      parallel fuzzer processes per target (default 1)
#   BUILD_DIR      the normal build, for seeds (default build/)
#   FUZZ_BUILD_DIR the fuzz build (default build-fuzz/)
#   FUZZ_CORPUS    where each target's corpus lives between runs (default FUZZ_BUILD_DIR/corpus)
# Run one target for longer by hand (see the README): FUZZ_SECONDS=3600 FUZZ_TARGETS=elf
# bash tests/fuzz/run_fuzz.sh, or run build-fuzz/bin/fuzz_<target> yourself with libFuzzer's
# flags on a corpus directory.
set -euo pipefail
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SECONDS_PER=${FUZZ_SECONDS:-60}
TARGETS=${FUZZ_TARGETS:-func_image checkpoint elf oci_layer oci_bundle}
JOBS=${FUZZ_JOBS:-1}
export BUILD_DIR=${BUILD_DIR:-$SRC/build}
FB=${FUZZ_BUILD_DIR:-$SRC/build-fuzz}
CORPUS=${FUZZ_CORPUS:-$FB/corpus}
CLANG=${CLANG:-clang-16}
CLANGXX=${CLANGXX:-clang++-16}
command -v "$CLANGXX" >/dev/null || { echo "run_fuzz: $CLANGXX not found (scripts/setup-deps.sh installs clang-16 and libclang-rt-16-dev)" >&2; exit 1; }

launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S "$SRC" -B "$FB" -DCMAKE_C_COMPILER="$CLANG" -DCMAKE_CXX_COMPILER="$CLANGXX" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCATALYZER_FUZZ=ON "${launcher[@]}" >/dev/null
bins=()
for t in $TARGETS; do bins+=("fuzz_$t"); done
cmake --build "$FB" --target "${bins[@]}" -j"$(nproc)"

seeds=$(mktemp -d "${TMPDIR:-/tmp}/catalyzer-fuzz-seeds.XXXXXX")
trap 'rm -rf "$seeds"' EXIT
bash "$SRC/tests/fuzz/make_seeds.sh" "$seeds"

failed=()
for t in $TARGETS; do
  mkdir -p "$CORPUS/$t" "$FB/artifacts/$t"
  rm -f "$FB/artifacts/$t"/*
  log=$FB/fuzz-$t.log
  echo "== fuzz_$t: ${SECONDS_PER}s, corpus $CORPUS/$t, seeds $(ls "$seeds/$t" | wc -l), regressions $(find "$SRC/tests/fuzz/regressions/$t" -type f ! -name README | wc -l)"
  # -max_len: the seeds are small (no segment or memory bytes); bigger inputs only slow it.
  # -timeout: one input that takes 10 s is a hang. -rss_limit_mb: an input that makes the
  # parser allocate gigabytes is a finding too.
  rc=0
  (cd "$FB/artifacts/$t" && ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
    "$FB/bin/fuzz_$t" -max_total_time="$SECONDS_PER" -max_len=65536 -timeout=10 \
      -rss_limit_mb=2048 -print_final_stats=1 -jobs="$JOBS" -workers="$JOBS" \
      -artifact_prefix="$FB/artifacts/$t/" \
      "$CORPUS/$t" "$seeds/$t" "$SRC/tests/fuzz/regressions/$t") >"$log" 2>&1 || rc=$?
  grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb|#[0-9]+ *DONE' "$log" | tr '\n' ' ' || true
  echo
  found=$(find "$FB/artifacts/$t" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | sort)
  if ((rc != 0)) || [[ -n $found ]]; then
    failed+=("$t")
    echo "FAIL fuzz_$t: exit $rc"
    grep -E 'ERROR: |SUMMARY: |runtime error|#[0-9]+ 0x' "$log" | head -n 30 | sed 's/^/  /'
    for f in $found; do
      cp "$f" "$SRC/tests/fuzz/regressions/$t/"
      echo "  kept $(basename "$f") in tests/fuzz/regressions/$t/ (commit it; ctest replays it)"
    done
    echo "  full log: $log"
  else
    echo "ok   fuzz_$t"
  fi
done
if ((${#failed[@]})); then
  echo "run_fuzz: ${#failed[@]} target(s) failed: ${failed[*]}"
  exit 1
fi
echo "run_fuzz: all targets ran ${SECONDS_PER}s without a finding"
