#!/bin/busybox sh
# guest_init.sh: /init of the QEMU harness's initramfs (tests/kvm/README.md). Runs as PID 1
# under busybox: loads the KVM modules, checks /dev/kvm, runs each test of /harness/tests
# (lines "NAME TIMEOUT COMMAND", paths already rewritten to the guest's) with its own time
# limit, writes one result line per test to the second serial port, and powers the VM off.
#
# The results port (/dev/ttyS1) carries only lines of this script, prefixed "KVMH ", so kernel
# messages on the console (ttyS0) can never interleave with them. Lines:
#   KVMH boot UPTIME                      init started (seconds since the guest kernel started)
#   KVMH setup ok|fail WHAT               modules and /dev/kvm
#   KVMH result NAME pass|fail|timeout RC SECONDS
#   KVMH output-begin NAME / ... / KVMH output-end NAME   a test's output (failed tests, or all
#                                                            with kvmh.verbose=1 on the command line)
#   KVMH done UPTIME                      every test ran; the host fails a run that lacks this
# With kvmh.shell=1 on the kernel command line a shell is left on the console instead of the
# power-off (tests/kvm/run_in_qemu.sh --shell).
/bin/busybox mkdir -p /usr/bin /usr/sbin /sbin
/bin/busybox --install -s
export PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin
mkdir -p /proc /sys /dev /tmp /run
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
ln -sf /proc/self/fd /dev/fd 2>/dev/null
# Loopback for the tests of `catload serve` (it listens on 127.0.0.1).
ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up

uptime_s() { cut -d' ' -f1 /proc/uptime; }
stty -F /dev/ttyS1 raw -echo 2>/dev/null
exec 3>/dev/ttyS1
say() { echo "KVMH $*" >&3; }
say boot "$(uptime_s)"

verbose=0
shell=0
case " $(cat /proc/cmdline) " in *" kvmh.verbose=1 "*) verbose=1 ;; esac
case " $(cat /proc/cmdline) " in *" kvmh.shell=1 "*) shell=1 ;; esac

finish() {
  say done "$(uptime_s)"
  if [ $shell = 1 ]; then
    echo "kvm harness: tests done; a shell (exit or poweroff -f to stop the VM)"
    setsid cttyhack sh
  fi
  sync
  poweroff -f
}

# irqbypass, kvm, ccp, kvm-amd: each depends only on modules before it (kvm-amd on kvm and ccp).
setup_ok=1
for m in irqbypass kvm ccp kvm-amd; do
  if out=$(insmod "/modules/$m.ko" 2>&1); then
    say setup ok "insmod $m"
  else
    say setup fail "insmod $m: $out"
    setup_ok=0
  fi
done
if [ -c /dev/kvm ]; then
  say setup ok /dev/kvm
else
  say setup fail "/dev/kvm is missing after loading the modules (does the CPU model offer SVM? dmesg: $(dmesg | grep -i -E 'kvm|svm' | tail -3 | tr '\n' ' '))"
  setup_ok=0
fi
[ $setup_ok = 1 ] || finish

# Same variable names as the e2e scripts get from ctest (tests/CMakeLists.txt).
export CATLOAD=/build/bin/catload CATIMG=/build/bin/catimg FIXTURES=/build/fixtures
export SOURCE_DIR=/source BUILD_DIR=/build CFI_MUTATE=/build/bin/cfi_mutate
export HOME=/tmp TMPDIR=/tmp KVM_HARNESS=1
. /harness/env

while read -r name limit cmd; do
  dir=/tmp/kvmh/$name
  mkdir -p "$dir/cwd"
  start=$(uptime_s)
  # setsid: the test leads a process group of its own, so a timeout kills all it started.
  (cd "$dir/cwd" && exec setsid sh -c "$cmd") >"$dir/out" 2>&1 </dev/null &
  pid=$!
  (
    sleep "$limit"
    if kill -0 "$pid" 2>/dev/null; then
      : >"$dir/timedout"
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid"
    fi
  ) &
  watchdog=$!
  wait "$pid"
  rc=$?
  kill "$watchdog" 2>/dev/null
  secs=$(awk -v a="$start" -v b="$(uptime_s)" 'BEGIN { printf "%.2f", b - a }')
  if [ -e "$dir/timedout" ]; then
    status=timeout
  elif [ $rc = 0 ]; then
    status=pass
  else
    status=fail
  fi
  say result "$name" "$status" "$rc" "$secs"
  if [ $status != pass ] || [ $verbose = 1 ]; then
    say output-begin "$name"
    # The last 64 KiB: enough to see why, bounded so a chatty test cannot flood the log.
    tail -c 65536 "$dir/out" | sed 's/^/  /' >&3
    echo >&3
    say output-end "$name"
  fi
done </harness/tests
finish
