#!/usr/bin/env bash
# replay.sh TARGET REPLAY_BINARY: ctest's fuzz.replay_TARGET. Runs every input that ever crashed
# the target (tests/fuzz/regressions/TARGET/) and seeds made from the fixtures (make_seeds.sh)
# through the target's entry point, built without libFuzzer. A crash, a sanitizer report (in the
# sanitizer build) or a hang (ctest's timeout) fails it.
set -euo pipefail
target=${1:?usage: replay.sh TARGET REPLAY_BINARY}
bin=${2:?usage: replay.sh TARGET REPLAY_BINARY}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[[ -x $bin ]] || { echo "FAIL: $bin is missing (build it)"; exit 1; }
seeds=$(mktemp -d "${TMPDIR:-/tmp}/catalyzer-replay.XXXXXX")
trap 'rm -rf "$seeds"' EXIT
bash "$here/make_seeds.sh" "$seeds"
"$bin" "$here/regressions/$target" "$seeds/$target" "$seeds/full/$target"
