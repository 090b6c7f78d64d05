#!/usr/bin/env python3
"""serve_report.py: the tables, the targets and the PNG of serve_bench.sh from its samples.

Input: samples.tsv (FUNCTION SERIES METRIC VALUE per line, written by serve_bench.sh) and the
skip lines of the run. Every figure is computed from those samples (nothing hard-coded); the
targets are issue 8's, each printed beside the figure it is judged on, with met / NOT met /
not measured. Prints the tables and writes them to --summary; the latency distributions (CDF
per boot mode and function) go to --png.
"""
import argparse
import collections
import math
import sys

FUNCTIONS = ["hello", "lua_fn", "python_fn"]
SERIES = ["serve:fork", "serve:warm", "serve:cold", "serve-path:fork", "serve-path:warm",
          "run:fork", "run:warm"]
MODES_FASTEST_FIRST = ["fork", "warm", "cold"]


def percentile(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    v = sorted(values)
    k = max(1, math.ceil(p / 100 * len(v)))
    return v[k - 1]


def fmt_us(x):
    if x is None:
        return "-"
    return f"{x:.0f}" if x >= 100 else f"{x:.1f}"


def fmt_rng(values):
    return f"{fmt_us(min(values))}..{fmt_us(max(values))}" if values else ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", required=True)
    ap.add_argument("--skips", required=True)
    ap.add_argument("--png", required=True)
    ap.add_argument("--summary", required=True)
    ap.add_argument("--title", default="catload serve")
    a = ap.parse_args()

    data = collections.defaultdict(list)  # (function, series, metric) -> [values]
    with open(a.samples) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) == 4 and parts[3]:
                data[(parts[0], parts[1], parts[2])].append(float(parts[3]))
    out = []

    def p(s=""):
        out.append(s)

    def get(fn, series, metric):
        return data.get((fn, series, metric), [])

    def p50(fn, series, metric):
        v = get(fn, series, metric)
        return percentile(v, 50) if v else None

    fns = [f for f in FUNCTIONS if any(k[0] == f for k in data)]

    p("== latency per boot mode, µs: p50 / p99 (min..max) over n samples ==")
    p("   boot: X-Catalyzer-Boot-Latency-Us (serve) or --stats=json boot_ns (run --repeat);")
    p("   end to end: curl time_total on a kept-alive connection (serve only)")
    p(f"{'function':<10} {'series':<15} {'boot p50':>9} {'p99':>8} {'(min..max)':>16} "
      f"{'e2e p50':>9} {'p99':>8} {'(min..max)':>18} {'n':>5}")
    for fn in fns:
        for s in SERIES:
            b, e = get(fn, s, "boot_us"), get(fn, s, "e2e_us")
            if not b and not e:
                continue
            p(f"{fn:<10} {s:<15} {fmt_us(percentile(b, 50) if b else None):>9} "
              f"{fmt_us(percentile(b, 99) if b else None):>8} {fmt_rng(b):>16} "
              f"{fmt_us(percentile(e, 50) if e else None):>9} "
              f"{fmt_us(percentile(e, 99) if e else None):>8} {fmt_rng(e):>18} "
              f"{max(len(b), len(e)):>5}")
    p()

    p("== what the boot latency consists of: answers booted ahead, median stage, µs ==")
    p("   ahead: answers from an instance booted ahead of the request (X-Catalyzer-Booted-Ahead),")
    p("   of all; stages (X-Catalyzer-Boot-Stages), median over the answers that have the stage")
    p("   (A/B where some answers were booted ahead and some not: all answers / those booted ahead)")
    any_stage = False
    for fn in fns:
        for s in SERIES:
            ahead = get(fn, s, "booted_ahead")
            if not ahead:
                continue
            any_stage = True
            stages = [k[2] for k in data if k[0] == fn and k[1] == s and k[2].startswith("stage_")]
            order = sorted(set(stages), key=stages.index)
            # Stage samples are in answer order, as the booted_ahead ones: a stage present in
            # every answer lines up with them; otherwise (boots on the path only) all of them.
            parts = []
            for st in order:
                v = get(fn, s, st)
                med = fmt_us(percentile(v, 50))
                n_ahead = sum(1 for a in ahead if a == 1)
                if len(v) == len(ahead) and 0 < n_ahead < len(ahead):
                    va = [x for x, a in zip(v, ahead) if a == 1]
                    med += "/" + (fmt_us(percentile(va, 50)) if va else "-")
                parts.append(f"{st[len('stage_'):]} {med}")
            p(f"{fn:<10} {s:<15} ahead {sum(1 for a in ahead if a == 1):>4}/{len(ahead):<4} "
              + ", ".join(parts))
    if not any_stage:
        p("(not recorded: the server sends no X-Catalyzer-Booted-Ahead)")
    p()

    p("== baselines, µs: median (min..max) ==")
    p("   native: started with the request on stdin, init included; native-req: an initialized")
    p("   native process blocked reading its request, write -> exit; gv-restore: runsc restore")
    p(f"{'function':<10} {'native':>9} {'(min..max)':>22} {'native-req':>11} {'(min..max)':>18} "
      f"{'gv-restore':>11} {'(min..max)':>22}")
    for fn in fns:
        n, r, g = (get(fn, s, "e2e_us") for s in ("native", "native-req", "gv-restore"))
        p(f"{fn:<10} {fmt_us(p50(fn, 'native', 'e2e_us')):>9} {fmt_rng(n):>22} "
          f"{fmt_us(p50(fn, 'native-req', 'e2e_us')):>11} {fmt_rng(r):>18} "
          f"{fmt_us(p50(fn, 'gv-restore', 'e2e_us')):>11} {fmt_rng(g):>22}")
    p()

    def ratio(x, y):
        return f"{x / y:.2f}x" if x is not None and y else "n/a"

    p("== ratios of end-to-end p50 through serve (same run) ==")
    p(f"{'function':<10} {'series':<11} {'/ native-req':>13} {'native / it':>12} "
      f"{'gv-restore / it':>16}")
    for fn in fns:
        for s in SERIES:
            e = p50(fn, s, "e2e_us")
            if e is None:
                continue
            p(f"{fn:<10} {s:<11} {ratio(e, p50(fn, 'native-req', 'e2e_us')):>13} "
              f"{ratio(p50(fn, 'native', 'e2e_us'), e):>12} "
              f"{ratio(p50(fn, 'gv-restore', 'e2e_us'), e):>16}")
    p()

    p("== throughput, hello, wrk -t2 -c4 on loopback: invocations/s ==")
    p(f"{'mode':<11} {'1 core':>10} {'2 cores':>10} {'2 / 1':>8}")
    rps = {}
    for s in ["serve:fork", "serve:warm", "serve:cold"]:
        one, two = get("hello", s, "rps_1cpu"), get("hello", s, "rps_2cpu")
        if not one and not two:
            continue
        o = one[0] if one else None
        t = two[0] if two else None
        rps[s] = (o, t)
        p(f"{s:<11} {fmt_us(o):>10} {fmt_us(t):>10} {ratio(t, o):>8}")
    if not rps:
        p("(not measured: see the skipped lines)")
    p()

    p("== memory: N live forked Lua instances held by one server (ready, never run), PSS ==")
    p("   shells: every shell of the server (template, N instances, zygote pool); + server: and")
    p("   the server process itself. recorded: working set pre-copied per instance (default);")
    p("   none: nothing pre-copied, pages shared with the template until written")
    p(f"{'prefault':<9} {'N':>4} {'shells':>7} {'shells MiB':>11} {'+ server MiB':>13} "
      f"{'per instance KiB':>17} {'shells / N=1':>13}")
    mems = {}
    for key in sorted({k[1] for k in data if k[1].startswith("mem-")},
                      key=lambda s: (s.split(":")[0], int(s.split(":")[1]))):
        pf, n = key[len("mem-"):].split(":")
        sh = get("lua_fn", key, "pss_shells_kb")
        tot = get("lua_fn", key, "pss_total_kb")
        cnt = get("lua_fn", key, "shells")
        if sh and tot:
            mems.setdefault(pf, {})[int(n)] = (sh[0], tot[0], cnt[0] if cnt else 0)
    for pf, mem in mems.items():
        for n, (sh, tot, cnt) in sorted(mem.items()):
            base = mem.get(1, (None, None, None))[0]
            p(f"{pf:<9} {n:>4} {cnt:>7.0f} {sh / 1024:>11.1f} {tot / 1024:>13.1f} "
              f"{sh / n:>17.0f} {ratio(sh, base):>13}")
    if not mems:
        p("(not measured: see the skipped lines)")
    p()

    p("== targets (issue 8), judged on the figures above ==")

    def verdict(ok):
        return "met" if ok else "NOT met"

    def served_default(fn):
        """The mode serve picks by default (the fastest it offers) and its e2e p50."""
        for m in MODES_FASTEST_FIRST:
            e = p50(fn, "serve:" + m, "e2e_us")
            if e is not None:
                return m, e
        return None, None

    for mode, limit in (("fork", 100), ("warm", 200)):
        for fn in fns:
            for s in ("serve:" + mode, "run:" + mode):
                b = p50(fn, s, "boot_us")
                if b is not None:
                    p(f"target {mode} boot p50 <= {limit} µs, {fn}: {fmt_us(b)} µs ({s}) "
                      f"-> {verdict(b <= limit)}")
                    break
            else:
                p(f"target {mode} boot p50 <= {limit} µs, {fn}: not measured")
            b = p50(fn, "serve-path:" + mode, "boot_us")
            if b is not None:
                p(f"   (booted on the request's path, --ready 0: {fmt_us(b)} µs -> "
                  f"{verdict(b <= limit)})")
    m, e = served_default("python_fn")
    nat = p50("python_fn", "native", "e2e_us")
    if e is not None and nat is not None:
        p(f"target CPython e2e p50 through serve <= 10 ms and >= 40x native start: {e / 1000:.2f} ms "
          f"(serve:{m}, its default), native start {nat / 1000:.1f} ms = {nat / e:.1f}x "
          f"-> {verdict(e <= 10000 and nat / e >= 40)}")
    else:
        p("target CPython e2e p50 through serve <= 10 ms and >= 40x native start: not measured")
    for fn in ("lua_fn", "python_fn"):
        req = p50(fn, "native-req", "e2e_us")
        figures = []
        for mm in MODES_FASTEST_FIRST:
            ee = p50(fn, "serve:" + mm, "e2e_us")
            if ee is not None:
                figures.append(f"{mm} {ee / 1000:.2f}")
        m, e = served_default(fn)
        if e is not None and req is not None:
            bound = 1.25 * req + 1000
            p(f"target {fn} e2e p50 <= 1.25 x native-req + 1 ms = {bound / 1000:.2f} ms: "
              f"serve:{m} (default) {e / 1000:.2f} ms [{', '.join(figures)} ms] "
              f"-> {verdict(e <= bound)}")
        else:
            p(f"target {fn} e2e p50 <= 1.25 x native-req + 1 ms: not measured")
    if rps:
        best = max(((v, s, c) for s, (o, t) in rps.items()
                    for v, c in ((o, "1 core"), (t, "2 cores")) if v is not None))
        p(f"target hello >= 1000 invocations/s: {best[0]:.0f} inv/s ({best[1]}, {best[2]}; the "
          f"best measured) -> {verdict(best[0] >= 1000)}")
    else:
        p("target hello >= 1000 invocations/s: not measured")
    measured = False
    for pf, mem in mems.items():
        if 1 in mem and 100 in mem:
            measured = True
            # Judged on what the host spends to hold them: the server and its shells. The
            # shells alone hold, for N = 1, only the pages pre-copied into that one instance
            # (~70 KiB): "2x of one" would then ask each of 100 instances to cost under 1.4
            # KiB, less than its page tables, so that ratio is printed for information only.
            p(f"target 100 live Lua instances < 2x the memory of one (PSS of the server and its "
              f"shells, --prefault {pf}): {mem[100][1] / 1024:.1f} MiB vs 2 x "
              f"{mem[1][1] / 1024:.1f} MiB -> {verdict(mem[100][1] < 2 * mem[1][1])} (the shells "
              f"alone: {mem[100][0] / 1024:.2f} MiB vs 2 x {mem[1][0] / 1024:.2f} MiB, "
              f"{mem[100][0] / max(mem[1][0], 1):.0f}x)")
    if not measured:
        p("target 100 live Lua instances < 2x the memory of one: not measured")
    p()

    text = "\n".join(out)
    print(text)
    with open(a.skips) as f:
        skips = [s for s in f.read().splitlines() if s]
    with open(a.summary, "w") as f:
        f.write(a.title + "\n\n" + text + "\n" + "\n".join(skips) + "\n")

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        print(f"serve_report.py: no PNG: matplotlib is missing ({e})", file=sys.stderr)
        return 0
    cols = len(fns) or 1
    fig, axes = plt.subplots(2, cols, figsize=(5.2 * cols, 7.5), squeeze=False)
    colors = {"fork": "tab:green", "warm": "tab:orange", "cold": "tab:blue"}
    for j, fn in enumerate(fns):
        for i, (metric, label) in enumerate((("boot_us", "boot latency"),
                                             ("e2e_us", "end to end"))):
            ax = axes[i][j]
            for s in SERIES:
                v = sorted(get(fn, s, metric))
                if not v:
                    continue
                mode = s.split(":")[1]
                y = [(k + 1) / len(v) for k in range(len(v))]
                ax.step(v, y, where="post", color=colors[mode],
                        linestyle="-" if s.startswith("serve:") else
                        (":" if s.startswith("serve-path") else "--"),
                        label=f"{s} p50 {fmt_us(percentile(v, 50))}")
            if metric == "e2e_us":
                for s, style in (("native-req", ":"), ("native", "-."), ("gv-restore", "--")):
                    m = p50(fn, s, "e2e_us")
                    if m is not None:
                        ax.axvline(m, color="gray" if s != "gv-restore" else "tab:red",
                                   linestyle=style, label=f"{s} median {fmt_us(m)}")
            ax.set_xscale("log")
            ax.set_ylim(0, 1.02)
            ax.set_title(f"{fn}: {label}")
            ax.set_xlabel("µs (log)")
            ax.set_ylabel("fraction of requests")
            ax.grid(True, which="both", alpha=0.3)
            if ax.lines:
                ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(a.title, fontsize=9)
    fig.tight_layout()
    fig.savefig(a.png, dpi=110)
    return 0


if __name__ == "__main__":
    sys.exit(main())
