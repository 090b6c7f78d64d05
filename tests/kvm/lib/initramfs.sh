# initramfs.sh (sourced): builds the harness's initramfs, a newc cpio made at test time (never
# committed): busybox-static, /init (guest_init.sh), the KVM modules, the test list with guest
# paths, and every file the list names. @BUILD@/p lands at /build/p and @SOURCE@/p at /source/p;
# an absolute host path at the same path; `tools` at /usr/local/bin. A dynamic ELF brings the
# shared libraries `ldd` lists (at their host paths, where its PT_INTERP and the default search
# path look), so gtest binaries and host tools such as bash run as they do on the host.
#
# kvm_initramfs_build OUT STAGE KERNEL_DIR BUILD_DIR SOURCE_DIR GUEST_INIT: uses the arrays of
# list.sh. Returns 1 after a message naming what is missing.

# kvm_is_elf FILE
kvm_is_elf() {
  [[ $(head -c 4 "$1" 2>/dev/null | od -An -tx1 | tr -d ' \n') == 7f454c46 ]]
}

# kvm_copy SRC DEST: one file; an ELF without its debug sections (catload is ~50 MB with them,
# ~5 without: the initramfs is loaded and unpacked under emulation). Symbols stay (catimg
# looks some up in fixtures).
kvm_copy() {
  if kvm_is_elf "$1"; then
    objcopy --strip-debug "$1" "$2" 2>/dev/null && return 0
  fi
  cp -L "$1" "$2"
}

# kvm_stage_libs FILE STAGE: the shared libraries and the loader of a dynamic ELF.
kvm_stage_libs() {
  local lib
  kvm_is_elf "$1" || return 0
  # ldd prints "name => /path (addr)" and "/path/to/ld.so (addr)"; a static binary: nothing.
  while read -r lib; do
    [[ -e $2$lib ]] && continue
    mkdir -p "$2$(dirname "$lib")"
    kvm_copy "$lib" "$2$lib" || return 1
  done < <(ldd "$1" 2>/dev/null | sed 's/^[[:space:]]*//' | grep -oE '(^|=> )/[^ ]+' | sed 's/^=> //')
}

# kvm_stage_path HOST_PATH STAGE GUEST_PATH: a file or a whole directory, with libraries.
kvm_stage_path() {
  local f
  [[ -e $1 ]] || return 1
  mkdir -p "$2$(dirname "$3")"
  if [[ -d $1 ]]; then
    mkdir -p "$2$3"
    cp -rL "$1/." "$2$3/" || return 1
    while IFS= read -r -d '' f; do kvm_stage_libs "$f" "$2" || return 1; done < <(find "$1" -type f -perm -u+x -print0)
  else
    kvm_copy "$1" "$2$3" || return 1
    kvm_stage_libs "$1" "$2" || return 1
  fi
}

kvm_initramfs_build() {
  local out=$1 stage=$2 kdir=$3 build=$4 source=$5 init=$6 p host guest busybox i tool
  rm -rf "$stage"
  mkdir -p "$stage"/{bin,modules,harness,build,source,tmp,usr/local/bin}
  busybox=$(command -v busybox) || {
    echo "busybox not found: install busybox-static (scripts/setup-deps.sh)"
    return 1
  }
  if ldd "$busybox" >/dev/null 2>&1; then
    echo "$busybox is dynamically linked: install busybox-static (scripts/setup-deps.sh)"
    return 1
  fi
  cp -L "$busybox" "$stage/bin/busybox"
  cp "$init" "$stage/init"
  chmod 755 "$stage/init"
  cp "$kdir"/modules/*.ko "$stage/modules/"
  for p in "${KVM_FILES[@]}"; do
    host=$(kvm_rewrite "$p" "$build" "$source")
    guest=$(kvm_rewrite "$p" /build /source)
    kvm_stage_path "$host" "$stage" "$guest" || {
      echo "cannot put $host into the initramfs (named as $p in the test list): does it exist? (build its target first)"
      return 1
    }
  done
  for tool in "${KVM_TOOLS[@]}"; do
    host=$(command -v "$tool") || {
      echo "tool '$tool' (a 'tools' line of the test list) is not installed on the host"
      return 1
    }
    kvm_stage_path "$(readlink -f "$host")" "$stage" "/usr/local/bin/$tool" || return 1
  done
  # The host's settings the inner tests should see too (sanitizer options, the e2e timeout).
  : >"$stage/harness/env"
  for p in ${KVM_HARNESS_PASS_ENV:-ASAN_OPTIONS UBSAN_OPTIONS E2E_TIMEOUT}; do
    [[ -n ${!p+set} ]] || continue
    printf "export %s='%s'\n" "$p" "${!p//\'/\'\\\'\'}" >>"$stage/harness/env"
  done
  : >"$stage/harness/tests"
  for i in "${!KVM_TEST_NAMES[@]}"; do
    printf '%s %s %s\n' "${KVM_TEST_NAMES[$i]}" "${KVM_TEST_LIMITS[$i]}" \
      "$(kvm_rewrite "${KVM_TEST_CMDS[$i]}" /build /source)" >>"$stage/harness/tests"
  done
  (cd "$stage" && find . | LC_ALL=C sort | busybox cpio -o -H newc -R 0:0 >"$out" 2>/dev/null) || {
    echo "busybox cpio failed to write $out"
    return 1
  }
}
