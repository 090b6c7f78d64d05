#!/usr/bin/env bash
# guest_kernel.sh: prints the directory holding the QEMU harness's guest kernel (vmlinux, or
# vmlinuz when no vmlinux could be unpacked, and modules/*.ko), fetching it first if needed.
#
# The kernel is Debian's, never installed on the host: `apt-get download` of the package that
# the metapackage linux-image-amd64 depends on (e.g. linux-image-6.1.0-57-amd64), and from it
# only the files the harness needs are unpacked (dpkg-deb --fsys-tarfile | tar: what `dpkg -x`
# does, restricted to five files instead of ~4,900). The result is cached per package version
# in $KVM_GUEST_CACHE (default ${XDG_CACHE_HOME:-~/.cache}/catalyzer/kvm-guest), reused by every
# later run and every worktree; a new kernel in Debian's lists is fetched once, beside the old.
#
# Why an uncompressed vmlinux: QEMU boots an ELF vmlinux through its PVH entry point, which
# skips the bzImage's self-decompression; under TCG that decompression took ~9 s of a ~15 s
# boot here (measured: 15.8 s bzImage, 6.2 s vmlinux, same kernel and initramfs).
#
# Modules: irqbypass, kvm, ccp, kvm-amd (kvm-amd depends on kvm and ccp; kvm on irqbypass).
# Compressed modules (.ko.xz/.ko.zst/.ko.gz, as newer Debian kernels ship) are decompressed here:
# busybox's insmod is not relied on to read them.
#
# Environment: KVM_GUEST_CACHE (cache root), KVM_GUEST_KERNEL_PACKAGE (a package name to use
# instead of linux-image-amd64's dependency), KVM_GUEST_KERNEL_DIR (a ready directory: printed
# as is, nothing fetched; for offline machines). Exit 1 with a message saying what to do.
set -euo pipefail

readonly modules=(irqbypass kvm ccp kvm-amd)

die() {
  echo "guest_kernel: $*" >&2
  exit 1
}

if [[ -n ${KVM_GUEST_KERNEL_DIR:-} ]]; then
  [[ -f $KVM_GUEST_KERNEL_DIR/done ]] ||
    die "KVM_GUEST_KERNEL_DIR=$KVM_GUEST_KERNEL_DIR is not a guest kernel directory made by this script (no 'done' file)"
  echo "$KVM_GUEST_KERNEL_DIR"
  exit 0
fi

cache=${KVM_GUEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/catalyzer/kvm-guest}
mkdir -p "$cache" || die "cannot create the cache directory $cache (set KVM_GUEST_CACHE)"

# The newest complete cache entry, for when apt cannot tell which kernel is current.
newest_cached() {
  local d
  d=$(ls -1dt "$cache"/*/done 2>/dev/null | head -1) || true
  [[ -n $d ]] && dirname "$d"
}

# The kernel package and its version, from apt's lists (no network needed): the metapackage
# depends on exactly one version of it. apt-cache takes seconds, so the answer is remembered
# with the lists' time stamp and asked again only when the lists changed (apt-get update).
lists_stamp=$(stat -c %Y /var/lib/apt/lists 2>/dev/null || echo none)
package=${KVM_GUEST_KERNEL_PACKAGE:-}
version=""
if [[ -z $package && -f $cache/resolved ]]; then
  read -r stamp package version <"$cache/resolved" || true
  [[ $stamp == "$lists_stamp" ]] || package="" version=""
fi
if [[ -z $package ]]; then
  read -r package version < <(apt-cache show --no-all-versions linux-image-amd64 2>/dev/null |
    sed -n 's/^Depends: \(linux-image-[0-9][^ ,]*\) (= \([^)]*\)).*/\1 \2/p' | head -1) || true
  [[ -n $package && -n $version ]] && echo "$lists_stamp $package $version" >"$cache/resolved"
elif [[ -z $version ]]; then
  version=$(apt-cache policy "$package" 2>/dev/null | sed -n 's/^ *Candidate: //p')
fi
if [[ -z $package || -z $version || $version == "(none)" ]]; then
  if d=$(newest_cached); then
    echo "guest_kernel: apt does not know linux-image-amd64's kernel (run 'apt-get update'); using the cached $(basename "$d")" >&2
    echo "$d"
    exit 0
  fi
  die "apt does not know ${KVM_GUEST_KERNEL_PACKAGE:-the kernel package linux-image-amd64 depends on}, and nothing is cached in $cache: run 'apt-get update' (needs Debian's mirror once), or set KVM_GUEST_KERNEL_DIR to a directory this script made on another machine"
fi

dir=$cache/${package}_${version}
if [[ -f $dir/done ]]; then
  echo "$dir"
  exit 0
fi

# Fetch and unpack into a private directory, then rename it into place: a run that is killed
# half-way, or two runs at once (two worktrees), never leave or see a half-made entry.
work=$(mktemp -d "$cache/.fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "guest_kernel: fetching $package $version (once; cached in $cache)" >&2
apt_opts=()
# As root apt drops to the _apt user to download, which cannot write to a private directory.
[[ $(id -u) == 0 ]] && apt_opts=(-o APT::Sandbox::User=root)
if ! (cd "$work" && apt-get download -q "${apt_opts[@]}" "$package=$version") >"$work/apt.log" 2>&1; then
  cat "$work/apt.log" >&2
  if d=$(newest_cached); then
    echo "guest_kernel: cannot download $package $version (offline?); using the cached $(basename "$d")" >&2
    echo "$d"
    exit 0
  fi
  die "cannot download $package $version (above: apt's output): the harness needs Debian's mirror once (then the kernel is cached in $cache); if apt's lists are stale run 'apt-get update'; offline, set KVM_GUEST_KERNEL_DIR to a directory this script made on another machine"
fi
deb=$(ls "$work"/*.deb)
mkdir -p "$work/x" "$work/entry/modules"
patterns=('./boot/vmlinuz-*')
for mod in "${modules[@]}"; do patterns+=("*/$mod.ko" "*/$mod.ko.*"); done
# One pass over the package's data (GNU tar's --wildcards match members by pattern).
dpkg-deb --fsys-tarfile "$deb" | tar -x --wildcards -C "$work/x" "${patterns[@]}" 2>"$work/tar.log" || true
rm -f "$deb"
entry=$work/entry
mapfile -t kernels < <(find "$work/x/boot" -name 'vmlinuz-*' 2>/dev/null)
((${#kernels[@]} == 1)) || die "$package: expected one /boot/vmlinuz-*, found ${#kernels[@]} ($(cat "$work/tar.log"))"
mv "${kernels[0]}" "$entry/vmlinuz"
release=${kernels[0]##*/vmlinuz-}
for mod in "${modules[@]}"; do
  src=$(find "$work/x/lib" "$work/x/usr/lib" -name "$mod.ko" -o -name "$mod.ko.*" 2>/dev/null | head -1) || true
  [[ -n $src ]] || die "$package has no module $mod (the harness needs ${modules[*]})"
  case $src in
    *.ko) mv "$src" "$entry/modules/$mod.ko" ;;
    *.ko.xz) xz -dc "$src" >"$entry/modules/$mod.ko" ;;
    *.ko.zst) zstd -qdc "$src" >"$entry/modules/$mod.ko" ;;
    *.ko.gz) gzip -dc "$src" >"$entry/modules/$mod.ko" ;;
    *) die "$src: a module compression this script does not know" ;;
  esac
done

# vmlinux: the ELF inside the bzImage is the payload after the first compression magic that
# decompresses to an ELF (what the kernel's scripts/extract-vmlinux does). Kept only if it has
# the PVH entry note (Xen ELF note 18, XEN_ELFNOTE_PHYS32_ENTRY) QEMU needs to boot it.
try_unpack() { # MAGIC(a grep -P pattern) DECOMPRESSOR...
  local magic=$1 off
  shift
  for off in $(LC_ALL=C grep -aboP "$magic" "$entry/vmlinuz" 2>/dev/null | cut -d: -f1 | head -3); do
    tail -c +$((off + 1)) "$entry/vmlinuz" | "$@" >"$entry/vmlinux" 2>/dev/null || true
    if [[ $(head -c 4 "$entry/vmlinux" 2>/dev/null | od -An -tx1 | tr -d ' \n') == 7f454c46 ]]; then return 0; fi
  done
  rm -f "$entry/vmlinux"
  return 1
}
try_unpack '\xfd7zXZ\x00' xz -dcq || try_unpack '\x28\xb5\x2f\xfd' zstd -qdc || try_unpack '\x1f\x8b\x08' gzip -dcq || true
if [[ -f $entry/vmlinux ]] && ! readelf -n "$entry/vmlinux" 2>/dev/null | grep -q 'Xen.*0x00000012'; then
  rm -f "$entry/vmlinux"
fi
if [[ -f $entry/vmlinux ]]; then rm -f "$entry/vmlinuz"; else
  echo "guest_kernel: no PVH-bootable vmlinux in $package: booting the bzImage (slower: it decompresses itself under emulation)" >&2
fi
echo "$release" >"$entry/release"
echo "$package $version" >"$entry/done"
rm -rf "$work/x"
if ! mv -T "$entry" "$dir" 2>/dev/null; then
  [[ -f $dir/done ]] || die "cannot move the fetched kernel into $dir"
fi
echo "$dir"
