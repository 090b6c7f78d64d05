#!/usr/bin/env bash
# python_threads: CPython's `threading` and `subprocess` in the sandbox (fixtures/python_fn, the
# static CPython) against native runs of the same binary: a queue-fed thread pool, a condition
# variable, and subprocess.run of busybox (fork + execve + pipes, the parent polling them while
# the child runs: poll among several tasks, poll_parking.h), also while another thread lives,
# under `catload exec`; and a function
# that starts and joins threads and runs a subprocess per request, through capture -> catimg
# build -> cold boot with several requests.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

BUSYBOX=${BUSYBOX:-/bin/busybox}
e2e_require_images
e2e_require_fixture python_fn
STDLIB=/usr/lib/python3.11
[[ -f $STDLIB/threading.py ]] || e2e_setup_fail "$STDLIB is missing (apt-get install libpython3.11-stdlib)"
[[ -x $BUSYBOX ]] && file -L "$BUSYBOX" 2>/dev/null | grep -q 'statically linked' ||
  e2e_setup_fail "$BUSYBOX is not a static busybox (apt-get install busybox-static)"
e2e_tmpdir

R=$E2E_TMP/rootfs
mkdir -p "$R/bin" "$R/fn"
cp "$BUSYBOX" "$R/bin/busybox"
cat >"$R/fn/threads.py" <<'PY'
import queue, subprocess, threading
q, res = queue.Queue(), []
def worker(i):
    while (x := q.get()) is not None:
        res.append(x * x)
ts = [threading.Thread(target=worker, args=(i,)) for i in range(3)]
for t in ts: t.start()
for n in range(50): q.put(n)
for t in ts: q.put(None)
for t in ts: t.join()
print("pool", len(res), sum(res))
cond, box = threading.Condition(), []
def produce():
    with cond:
        box.append(42)
        cond.notify()
p = threading.Thread(target=produce)
p.start()
with cond:
    while not box: cond.wait()
p.join()
print("cond", box[0])
r = subprocess.run(["/bin/busybox", "echo", "from a child"], capture_output=True, text=True)
print("subprocess", r.returncode, r.stdout.strip())
print("exit code", subprocess.run(["/bin/busybox", "sh", "-c", "exit 3"]).returncode)
# A fork while another thread lives (blocked on an Event): the child has only the caller.
ev = threading.Event()
waiter = threading.Thread(target=ev.wait)
waiter.start()
r = subprocess.run(["/bin/busybox", "echo", "beside a thread"], capture_output=True, text=True)
ev.set()
waiter.join()
print("subprocess with a live thread", r.returncode, r.stdout.strip())
sh = ["/bin/busybox", "sh", "-c", "/bin/busybox seq 5 | /bin/busybox wc -l"]
print("pipeline", subprocess.run(sh, capture_output=True, text=True).stdout.strip())
PY
cat >"$R/fn/handler.py" <<'PY'
import subprocess, sys, threading
TABLE = [i * i for i in range(300000)]  # the init a snapshot saves
for line in sys.stdin:  # the first read of stdin is the func-entry point
    n = int(line)
    parts = [0] * 4
    def part(k):
        parts[k] = sum(TABLE[j] for j in range(k, n, 4))
    ts = [threading.Thread(target=part, args=(k,)) for k in range(4)]
    for t in ts: t.start()
    for t in ts: t.join()
    r = subprocess.run(["/bin/busybox", "expr", str(sum(parts)), "%", "1000"],
                       capture_output=True, text=True)
    print(n, sum(parts), r.stdout.strip(), flush=True)
PY

PY=(--root "$R" --env PYTHONHOME=/usr --mount "$STDLIB:$STDLIB:ro")
e2e_compare python-threads.exec "${PY[@]}" --rc 0 -- "$FIXTURES/python_fn" -s fn/threads.py
e2e_compare python-threads.handler-exec "${PY[@]}" --rc 0 --input $'10\n1000\n299999' \
  -- "$FIXTURES/python_fn" -s fn/handler.py

if e2e_image python_threads "${PY[@]}" -- "$FIXTURES/python_fn" -s fn/handler.py; then
  e2e_image_compare python_threads small --rc 0 --input $'10\n20'
  e2e_image_compare python_threads large --rc 0 --input $'1000\n299999\n7'
fi
e2e_finish
