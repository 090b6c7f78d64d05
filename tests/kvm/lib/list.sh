# list.sh (sourced): reads the harness's test list (tests/kvm/tests.txt; format in its header
# and tests/kvm/README.md) into arrays, and rewrites its @BUILD@/@SOURCE@ paths.
#
# After kvm_list_read FILE:
#   KVM_TEST_NAMES[i] KVM_TEST_LIMITS[i] KVM_TEST_CMDS[i]   the tests, in file order
#   KVM_FILES[]     paths the initramfs must carry (from `files` lines and from the commands)
#   KVM_TOOLS[]     host programs the initramfs must carry (from `tools` lines)
#   KVM_MEMORY_MIB  guest memory (the largest `memory` line; 1024 by default)
#   KVM_SELFTEST    the `selftest` command ("" when none): decides whether --direct can run
# Returns 1 after printing "FILE:LINE: what is wrong" for a malformed line.

kvm_list_reset() {
  KVM_TEST_NAMES=() KVM_TEST_LIMITS=() KVM_TEST_CMDS=() KVM_FILES=() KVM_TOOLS=()
  KVM_MEMORY_MIB=1024 KVM_SELFTEST=""
}
kvm_list_reset

# The @BUILD@/... and @SOURCE@/... words of a string, one a line.
kvm_list_paths() {
  grep -oE '@(BUILD|SOURCE)@(/[A-Za-z0-9_.+=,/-]*)?' <<<"$1" || true
}

# kvm_rewrite STRING BUILD_ROOT SOURCE_ROOT: STRING with @BUILD@ and @SOURCE@ replaced.
kvm_rewrite() {
  local s=$1
  s=${s//@BUILD@/$2}
  s=${s//@SOURCE@/$3}
  printf '%s' "$s"
}

kvm_list_read() {
  local file=$1 n=0 line word rest name limit cmd p
  local -A seen=()
  kvm_list_reset
  [[ -r $file ]] || {
    echo "$file: cannot read the test list"
    return 1
  }
  while IFS= read -r line || [[ -n $line ]]; do
    n=$((n + 1))
    line=${line%%$'\r'}
    [[ $line =~ ^[[:space:]]*(#|$) ]] && continue
    read -r word rest <<<"$line"
    case $word in
      memory)
        [[ $rest =~ ^[0-9]+$ ]] || {
          echo "$file:$n: 'memory' takes a size in MiB, not '$rest'"
          return 1
        }
        ((rest > KVM_MEMORY_MIB)) && KVM_MEMORY_MIB=$rest
        ;;
      files)
        for p in $rest; do
          [[ $p == @BUILD@* || $p == @SOURCE@* || $p == /* ]] || {
            echo "$file:$n: 'files' takes @BUILD@/..., @SOURCE@/... or absolute paths, not '$p'"
            return 1
          }
          KVM_FILES+=("$p")
        done
        ;;
      tools)
        for p in $rest; do KVM_TOOLS+=("$p"); done
        ;;
      selftest)
        KVM_SELFTEST=$rest
        ;;
      *)
        name=$word
        read -r limit cmd <<<"$rest"
        [[ $name =~ ^[A-Za-z0-9_.-]+$ ]] || {
          echo "$file:$n: test name '$name' is not [A-Za-z0-9_.-]+"
          return 1
        }
        [[ -z ${seen[$name]:-} ]] || {
          echo "$file:$n: test '$name' is already on line ${seen[$name]}"
          return 1
        }
        [[ $limit =~ ^[1-9][0-9]*$ ]] || {
          echo "$file:$n: test '$name': the second field is its time limit in seconds, not '$limit'"
          return 1
        }
        [[ -n $cmd ]] || {
          echo "$file:$n: test '$name' has no command"
          return 1
        }
        seen[$name]=$n
        KVM_TEST_NAMES+=("$name")
        KVM_TEST_LIMITS+=("$limit")
        KVM_TEST_CMDS+=("$cmd")
        while IFS= read -r p; do [[ -n $p ]] && KVM_FILES+=("$p"); done < <(kvm_list_paths "$cmd")
        ;;
    esac
  done <"$file"
  while IFS= read -r p; do [[ -n $p ]] && KVM_FILES+=("$p"); done < <(kvm_list_paths "$KVM_SELFTEST")
  ((${#KVM_TEST_NAMES[@]})) || {
    echo "$file: no tests"
    return 1
  }
}

# kvm_list_keep REGEX: keeps only the tests whose names match (the runner's --filter).
kvm_list_keep() {
  local i names=() limits=() cmds=()
  for i in "${!KVM_TEST_NAMES[@]}"; do
    [[ ${KVM_TEST_NAMES[$i]} =~ $1 ]] || continue
    names+=("${KVM_TEST_NAMES[$i]}")
    limits+=("${KVM_TEST_LIMITS[$i]}")
    cmds+=("${KVM_TEST_CMDS[$i]}")
  done
  KVM_TEST_NAMES=("${names[@]}")
  KVM_TEST_LIMITS=("${limits[@]}")
  KVM_TEST_CMDS=("${cmds[@]}")
}
