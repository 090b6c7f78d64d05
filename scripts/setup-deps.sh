#!/usr/bin/env bash
# Installs every Debian bookworm package the build, the tests and the benchmarks need (run as root).
set -euo pipefail
packages=(
  cmake g++ make pkg-config git clang-format
  # the static archives catload links (libelf.a, libz.a, libxxhash.a, libzstd.a) and headers:
  libelf-dev zlib1g-dev libxxhash-dev libzstd-dev libflatbuffers-dev flatbuffers-compiler libcli11-dev
  libgtest-dev libgmock-dev
  musl-tools liblua5.4-dev libsqlite3-dev busybox-static
  bash-static # e2e.processes: bash with its defaults (fork, execve, pipelines) in a guest
  # fixtures/python_fn: libpython3.11.a and its headers, the static expat and zlib its C modules
  # need, and the standard library the tests mount read-only into the guest (/usr/lib/python3.11)
  libpython3.11-dev libexpat1-dev libpython3.11-stdlib
  runsc
  xxhash jq # image_bad_inputs.sh recomputes XXH3 checksums (xxhsum) and reads inspect --json
  # tests/bench/serve_bench.sh: wrk is its load generator (POST through a Lua script), and it
  # draws its latency distributions with matplotlib (the PNG in the README).
  wrk python3-matplotlib
  time # hostile.sh measures catload's peak RSS under --memory-limit (/usr/bin/time -f %M)
  # e2e.checkpoint_gdb and the checkpoint unit tests read cores with gdb; e2e scripts check that
  # --json outputs parse with python3: without them those tests skip, which .ci/run refuses.
  gdb python3
  # catimg pack/unpack (spec/oci.md): libarchive writes and reads the layers' tars, libcrypto
  # (OpenSSL) hashes SHA-256; skopeo and umoci check in tests/e2e/oci_pack.sh that the images
  # are what OCI tools accept.
  libarchive-dev libssl-dev skopeo umoci
  # tests/fuzz/run_fuzz.sh: libFuzzer and the ASan/UBSan runtimes of clang 16 (g++ has no
  # coverage-guided fuzzer). 16, bookworm's newest: it compiles libstdc++ 12's <expected>
  # (CMakeLists.txt, CATALYZER_FUZZ).
  clang-16 libclang-rt-16-dev
  # catload serve (spec/serve.md, "Binaries"): cpp-httplib for HTTP (Debian ships it as a shared
  # library, so the server is the separate, dynamic catload-serve), nlohmann-json for GET / and
  # catload run's --report-fd; curl drives tests/e2e/serve.sh.
  libcpp-httplib-dev nlohmann-json3-dev curl
  # tests/fuzz/make_seeds.sh compresses the oci_layer seeds with the zstd command-line tool.
  zstd
  # fixtures/rust_fn: a static Rust program on std (e2e.rust_fn), built with Debian's rustc
  # (only /usr/bin/rustc is used: a rustup toolchain is not what CI has).
  rustc
  # fixtures/go_fn: a static Go program (CGO_ENABLED=0) for e2e.go_fn, built with Debian's Go.
  golang-go
  # tests/kvm (ctest -L kvm): QEMU emulates a machine with AMD SVM in software (TCG), so a
  # Debian kernel booted there offers a real /dev/kvm; busybox-static (above) is its userland.
  # The guest kernel is fetched by the harness with apt-get download, never installed.
  qemu-system-x86
  # catload-oci (spec/oci.md, "Runtime"): e2e.oci_runtime and tests/bench/oci_bench.sh run it
  # under the real engines on loopback: containerd + ctr (its runc v2 shim), podman + conmon, a
  # local registry (docker-registry) that skopeo pushes to and containerd pulls from; runc is
  # the benchmark's baseline (a dependency of containerd anyway).
  containerd runc podman conmon docker-registry
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
