#!/usr/bin/env bash
# make_seeds.sh OUT_DIR: seed inputs for the fuzz targets, made from the fixtures with the
# build's own binaries (nothing big is committed): OUT_DIR/<target>/ holds small seeds (func-
# images without segment bytes, checkpoints without memory bytes, small static executables), the
# ones a fuzzer mutates; OUT_DIR/full/<target>/ holds the same functions' full images and
# checkpoints, which replay.sh runs too. Uses $BUILD_DIR (default: build/ of this tree): bin/
# catload, catimg, cfi_mutate, core_strip and fixtures/. Fails if any of ours is missing or
# fails: seeds made from a broken build would test nothing.
set -euo pipefail
OUT=${1:?usage: make_seeds.sh OUT_DIR}
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$SRC/build}
B=$BUILD_DIR/bin
F=$BUILD_DIR/fixtures
for x in "$B/catload" "$B/catimg" "$B/cfi_mutate" "$B/core_strip" "$F/hello" "$F/explicit_entry" \
  "$F/state_objects" "$F/musl_hello" "$F/hello_pie"; do
  [[ -x $x ]] || { echo "make_seeds: $x is missing (build the project first)" >&2; exit 1; }
done
mkdir -p "$OUT"/{func_image,checkpoint,elf,oci_layer,oci_bundle} "$OUT"/full/{func_image,checkpoint,elf,oci_layer,oci_bundle}
work=$(mktemp -d "${TMPDIR:-/tmp}/catalyzer-seeds.XXXXXX")
trap 'rm -rf "$work"' EXIT

# name CAPTURE-ARGS...: one function captured and built, in full and small.
seed() {
  local name=$1
  shift
  if ! timeout 120 "$B/catload" capture -o "$work/$name.core" "$@" </dev/null >"$work/$name.log" 2>&1 ||
    ! timeout 120 "$B/catimg" build "$work/$name.core" -o "$work/$name.cfi" >>"$work/$name.log" 2>&1; then
    echo "make_seeds: capture or build of $name failed: $(tail -n 3 "$work/$name.log")" >&2
    exit 1
  fi
  cp "$work/$name.cfi" "$OUT/full/func_image/$name.cfi"
  cp "$work/$name.core" "$OUT/full/checkpoint/$name.core"
  "$B/cfi_mutate" "$work/$name.cfi" -o "$OUT/func_image/$name.cfi" --drop-segment-data
  "$B/core_strip" "$work/$name.core" "$OUT/checkpoint/$name.core"
}
seed hello -- "$F/hello"
seed explicit_entry --entry=explicit -- "$F/explicit_entry"
seed state_files -- "$F/state_objects" 24 files
seed state_fds --max-fds 256 -- "$F/state_objects" 24 fds
mkdir -p "$work/data" && echo data >"$work/data/f0"
seed mounted --mount "$work/data:/data:ro" -- "$F/hello"
cp "$F/musl_hello" "$OUT/elf/"
cp "$F/hello" "$F/hello_pie" "$OUT/full/elf/"
# oci_layer: small layer tars (a file, a directory, a symlink, an opaque whiteout), the first
# byte choosing the media type as fuzz_oci_layer.cc reads it: 0 tar, 1 tar+zstd, 2 tar+gzip.
mkdir -p "$work/layer/dir" && echo data >"$work/layer/dir/file" && ln -s dir/file "$work/layer/link"
: >"$work/layer/dir/.wh..wh..opq"
tar --format=posix --sort=name --mtime=@0 --owner=0 --group=0 -C "$work/layer" -cf "$work/layer.tar" .
{ printf '\0'; cat "$work/layer.tar"; } >"$OUT/oci_layer/tar"
{ printf '\1'; zstd -q -c "$work/layer.tar"; } >"$OUT/oci_layer/zstd"
{ printf '\2'; gzip -n -c "$work/layer.tar"; } >"$OUT/oci_layer/gzip"
# oci_bundle: config.json as the engines write it (fuzz_oci_bundle.cc): a minimal one, one as
# containerd's runc shim writes it (namespaces, rlimits, resources, proc/dev mounts, a bind, the
# snapshot annotation), one as podman's (file binds, a user, empty hooks), and one that names
# the program through PATH and a symlink of the fuzz target's rootfs.
cat >"$OUT/oci_bundle/minimal.json" <<'JSON'
{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"args":["/bin/sh"],"cwd":"/"}}
JSON
cat >"$OUT/oci_bundle/containerd.json" <<'JSON'
{"ociVersion":"1.0.2-dev","process":{"user":{"uid":0,"gid":0,"additionalGids":[0]},
"args":["/fn/lua_fn","/fn/function.lua"],"env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","EXTRA=1"],
"cwd":"/","capabilities":{"bounding":["CAP_CHOWN","CAP_KILL"]},"rlimits":[{"type":"RLIMIT_NOFILE","hard":1024,"soft":1024},{"type":"RLIMIT_NPROC","hard":4096,"soft":4096}],
"noNewPrivileges":true},"root":{"path":"rootfs"},"hostname":"c1",
"mounts":[{"destination":"/proc","type":"proc","source":"proc","options":["nosuid","noexec","nodev"]},
{"destination":"/dev","type":"tmpfs","source":"tmpfs","options":["nosuid","strictatime","mode=755","size=65536k"]},
{"destination":"/sys","type":"sysfs","source":"sysfs","options":["nosuid","noexec","nodev","ro"]},
{"destination":"/fn/data","type":"bind","source":"/tmp","options":["rbind","ro"]}],
"annotations":{"dev.catalyzer.snapshot":"cache","dev.catalyzer.timeout":"2.5","io.containerd.image.name":"x"},
"linux":{"resources":{"devices":[{"allow":false,"access":"rwm"}],"memory":{"limit":134217728},"cpu":{"shares":1024},"pids":{"limit":100}},
"cgroupsPath":"/default/c1","namespaces":[{"type":"pid"},{"type":"ipc"},{"type":"uts"},{"type":"mount"},{"type":"network"}],
"maskedPaths":["/proc/acpi"],"readonlyPaths":["/proc/bus"],"seccomp":{"defaultAction":"SCMP_ACT_ERRNO"},"devices":[{"path":"/dev/null","type":"c","major":1,"minor":3}]}}
JSON
cat >"$OUT/oci_bundle/podman.json" <<'JSON'
{"ociVersion":"1.0.2-dev","process":{"terminal":false,"user":{"uid":1000,"gid":1000},"args":["sh","-c","echo hi"],
"env":["PATH=/bin:/usr/bin","TERM=xterm","container=podman"],"cwd":"/fn/data"},"root":{"path":"/var/lib/containers/storage/vfs/dir/abc"},
"mounts":[{"destination":"/etc/hosts","type":"bind","source":"/etc/hosts","options":["bind","rprivate"]},
{"destination":"/dev/pts","type":"devpts","source":"devpts","options":["nosuid","noexec","newinstance"]},
{"destination":"/dev/mqueue","type":"mqueue","source":"mqueue"}],
"hooks":{},"annotations":{"dev.catalyzer.func-image":"/.catalyzer/function.cfi"}}
JSON
cat >"$OUT/oci_bundle/symlinks.json" <<'JSON'
{"root":{"path":"rootfs"},"process":{"args":["sh","x"],"env":["PATH=/fn/escape:/fn/loop:/fn/root/bin:bin"],"cwd":"/fn/root/fn/data"},
"mounts":[{"destination":"/fn/escape/x","type":"bind","source":"/","options":["rbind","rw"]}]}
JSON
echo "make_seeds: $(find "$OUT" -type f | wc -l) seeds in $OUT"
