#!/usr/bin/env bash
# bench/plot.sh — one gnuplot PNG per scenario from the JSON lines of a results
# directory (issue 7), written next to summary.md.
#
#   bench/plot.sh [RESULTS_DIR]     (default: bench/results/<today>-<host>)
#
# For every scenario, only its latest run (the newest "run" value among its
# rows) is plotted:
#   wrk scenarios (rows with rps: static-200, sync-http, sync-invoke,
#   async-ack, idle-conns, functions)
#             left: req/s vs connections (functions: vs function count), one
#             line per system (median of repetitions, bars min..max); right:
#             p50 / p99 / p99.9 latency (ms, log scale) per system.
#             sync-http-payload (one connection count, several request
#             body sizes): the same against the body size.
#             functions adds fcd and instance memory vs function count.
#   async-store-floor  store commit floor jobs/s vs jobs per transaction, with
#             fcd's durable acks/s vs clients on the same axes.
#   async-delay        CDF of the delay lateness (async-delay-samples.tsv).
#   timeout            overshoot past the 1 s timeout per sample.
#   idle               fcd RSS and CPU ticks over the idle interval.
#   cold-start         request → first byte per sample and runtime.
# Data files and gnuplot scripts go to RESULTS_DIR/plot-data/. Needs gnuplot
# (gnuplot-nox) and python3; prints the PNGs written.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=${1:-${RESULTS_DIR:-$ROOT/bench/results/$(date -u +%Y-%m-%d)-$(uname -n)}}
[ -d "$DIR" ] || { echo "plot.sh: no results directory $DIR" >&2; exit 1; }
command -v gnuplot >/dev/null 2>&1 || { echo "plot.sh: gnuplot not found (run: make deps)" >&2; exit 1; }
if [ -x /usr/bin/python3 ]; then PY=/usr/bin/python3; else PY=python3; fi
mkdir -p "$DIR/plot-data"

"$PY" - "$DIR" <<'EOF'
import glob
import json
import os
import statistics
import sys

d = sys.argv[1]
pd = os.path.join(d, "plot-data")
rows = []
for path in sorted(glob.glob(os.path.join(d, "*.jsonl"))):
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                rows.append(json.loads(line))
            except ValueError:
                print("plot.sh: skipping a bad line in %s" % path, file=sys.stderr)

latest = {}
for r in rows:
    s = r.get("scenario")
    if s and r.get("run", "") >= latest.get(s, ""):
        latest[s] = r.get("run", "")
by = {}
for r in rows:
    s = r.get("scenario")
    if s and r.get("run", "") == latest[s]:
        by.setdefault(s, []).append(r)

HEAD = 'set terminal pngcairo size 1400,560 font ",10"\nset grid\nset key top left\n'
scripts = []


def q(s):
    return '"%s"' % s.replace('"', "'")


def write(name, text):
    p = os.path.join(pd, name)
    with open(p, "w") as f:
        f.write(text)
    return p


def wrk_plot(scen, rs):
    xkey = "functions" if any("functions" in r for r in rs) else "connections"
    # Request body sizes at one connection count (sync-http-payload): x = payload,
    # one evenly spaced tic per size.
    if (xkey == "connections" and len({r["connections"] for r in rs}) == 1
            and len({r.get("payload", 0) for r in rs}) > 1):
        xkey = "payload"
        rs = [dict(r, payload=r.get("payload", 0)) for r in rs]
    if xkey == "functions":  # one fcd per function count: one series across them
        rs = [dict(r, system="fcd") for r in rs]
    systems = []
    for r in rs:
        if r["system"] not in systems:
            systems.append(r["system"])
    xs_all = sorted({r[xkey] for r in rs})
    plots_t, plots_l, mem = [], [], []
    for i, sys_ in enumerate(systems):
        lines = []
        for x in xs_all:
            g = [r for r in rs if r["system"] == sys_ and r[xkey] == x and r.get("rps") is not None]
            if not g:
                continue
            rps = [r["rps"] for r in g]

            def med(k):
                v = [r[k] for r in g if r.get(k) is not None]
                return statistics.median(v) / 1000.0 if v else float("nan")
            lines.append("%s %s %s %s %s %s %s" % (xs_all.index(x) if xkey == "payload" else x, statistics.median(rps), min(rps), max(rps),
                                                   med("p50_us"), med("p99_us"), med("p99_9_us")))
            if xkey == "functions":
                mem.append((sys_, x, statistics.median([r.get("fcd_rss_kb", 0) for r in g]) / 1024,
                            statistics.median([r.get("instances_rss_kb", 0) for r in g]) / 1024))
        f = write("%s-%d.dat" % (scen, i), "# x rps min max p50_ms p99_ms p999_ms\n" + "\n".join(lines) + "\n")
        plots_t.append("%s using 1:2:3:4 with yerrorlines lw 2 title %s" % (q(f), q(sys_)))
        plots_l.append("%s using 1:5 with linespoints lw 2 dt 1 lc %d title %s" % (q(f), i + 1, q(sys_ + " p50")))
        plots_l.append("%s using 1:6 with linespoints lw 2 dt 2 lc %d title %s" % (q(f), i + 1, q(sys_ + " p99")))
        plots_l.append("%s using 1:7 with linespoints lw 1 dt 3 lc %d title %s" % (q(f), i + 1, q(sys_ + " p99.9")))
    lo, hi = min(xs_all) / 1.5, max(xs_all) * 1.5
    xl = "functions (one warm instance each)" if xkey == "functions" else "connections"
    n = 3 if mem else 2
    gp = HEAD.replace("1400,560", "%d,560" % (700 * n))
    gp += 'set output %s\nset multiplot layout 1,%d title %s\n' % (
        q(os.path.join(d, scen + ".png")), n, q("%s — run %s" % (scen, latest[scen])))
    if xkey == "payload":
        def size(b):
            for unit, n in (("MiB", 1 << 20), ("KiB", 1 << 10)):
                if b >= n and b % n == 0:
                    return "%d %s" % (b // n, unit)
            return "%d B" % b
        gp += "set xrange [-0.5:%g]\nset xlabel %s\nset xtics (%s)\n" % (
            len(xs_all) - 0.5, q("request body (%s connections)" % rs[0]["connections"]),
            ", ".join("%s %d" % (q(size(b)), i) for i, b in enumerate(xs_all)))
    else:
        gp += "set logscale x 2\nset xrange [%g:%g]\nset xlabel %s\n" % (lo, hi, q(xl))
    gp += 'set ylabel "req/s (median, min..max)"\nset yrange [0:*]\nplot ' + ", ".join(plots_t) + "\n"
    gp += 'set ylabel "latency, ms (median of runs)"\nset logscale y\nset yrange [*:*]\nplot ' + ", ".join(plots_l) + "\n"
    if mem:
        f = write("%s-mem.dat" % scen, "# system functions fcd_mb instances_mb\n" +
                  "".join("%s %s %.2f %.2f\n" % m for m in mem))
        gp += 'unset logscale y\nset yrange [0:*]\nset ylabel "RSS, MiB"\n'
        gp += "plot %s using 2:3 with linespoints lw 2 title \"fcd\", %s using 2:4 with linespoints lw 2 title \"instances (sum)\", %s using 2:($3+$4) with linespoints lw 2 title \"fcd + instances\"\n" % (q(f), q(f), q(f))
    gp += "unset multiplot\n"
    scripts.append(write(scen + ".gp", gp))


for scen, rs in by.items():
    if any(r.get("rps") is not None for r in rs):
        wrk_plot(scen, [r for r in rs if r.get("rps") is not None])

if "async-store-floor" in by:
    rs = by["async-store-floor"]
    plots = []
    for i, sys_ in enumerate(sorted({r["system"] for r in rs})):
        pts = {}
        for r in rs:
            if r["system"] == sys_:
                pts.setdefault(r["batch"], []).append(r["jobs_per_s"])
        f = write("floor-%d.dat" % i, "".join("%s %s\n" % (b, statistics.median(v)) for b, v in sorted(pts.items())))
        plots.append("%s using 1:2 with linespoints lw 2 title %s" % (q(f), q(sys_ + " jobs/s (jobs per txn)")))
    for i, sys_ in enumerate(sorted({r["system"] for r in by.get("async-ack", [])})):
        pts = {}
        for r in by["async-ack"]:
            if r["system"] == sys_:
                pts.setdefault(r["connections"], []).append(r["rps"])
        f = write("ack-%d.dat" % i, "".join("%s %s\n" % (c, statistics.median(v)) for c, v in sorted(pts.items())))
        plots.append("%s using 1:2 with linespoints lw 2 dt 2 pt 7 title %s" % (q(f), q(sys_ + " acks/s (clients)")))
    gp = HEAD.replace("1400,560", "900,600") + 'set output %s\nset title %s\n' % (
        q(os.path.join(d, "async-store-floor.png")), q("durable commits: store floor vs fcd acks — run " + latest["async-store-floor"]))
    gp += 'set logscale xy\nset xlabel "jobs per transaction (floor) / clients (fcd)"\nset ylabel "jobs/s"\n'
    gp += "plot " + ", ".join(plots) + "\n"
    scripts.append(write("async-store-floor.gp", gp))

samples = os.path.join(d, "async-delay-samples.tsv")
if "async-delay" in by and os.path.exists(samples):
    run_l, start_l = [], []
    with open(samples) as f:
        next(f, None)
        for line in f:
            p = line.rstrip("\n").split("\t")
            if len(p) >= 7:
                run_l.append(float(p[5]))
                if p[6] != "":
                    start_l.append(float(p[6]))
    plots = []
    for name, v in (("Running − due (task API)", run_l), ("log Start − due", start_l)):
        if not v:
            continue
        v.sort()
        f = write("delay-%d.dat" % len(plots), "".join("%s %s\n" % (x, (i + 1) / len(v)) for i, x in enumerate(v)))
        plots.append("%s using 1:2 with steps lw 2 title %s" % (q(f), q(name)))
    if plots:
        gp = HEAD.replace("1400,560", "900,600") + 'set output %s\nset title %s\n' % (
            q(os.path.join(d, "async-delay.png")), q("delay lateness CDF (%d jobs) — run %s" % (len(run_l), latest["async-delay"])))
        gp += 'set key bottom right\nset xlabel "lateness, ms"\nset ylabel "fraction of jobs"\nset yrange [0:1]\n'
        gp += 'set arrow from 2, graph 0 to 2, graph 1 nohead dt 2\nset label "P5: p99 ≤ 2 ms" at 2, graph 0.05 offset 0.5,0\n'
        gp += "plot " + ", ".join(plots) + "\n"
        scripts.append(write("async-delay.gp", gp))

if "timeout" in by:
    rs = [r for r in by["timeout"] if "sample" in r]
    if rs:
        f = write("timeout.dat", "".join("%s %s\n" % (r["sample"], r["overshoot_ms"]) for r in rs))
        gp = HEAD.replace("1400,560", "900,600") + 'set output %s\nset title %s\n' % (
            q(os.path.join(d, "timeout.png")), q("timeout 1 s: error arrival past the timeout — run " + latest["timeout"]))
        gp += 'set xlabel "sample"\nset ylabel "overshoot, ms"\nset yrange [0:*]\n'
        gp += 'plot %s using 1:2 with linespoints lw 2 pt 7 title "overshoot", 5 with lines dt 2 title "P6: +5 ms"\n' % q(f)
        scripts.append(write("timeout.gp", gp))

idle = os.path.join(d, "idle-samples.tsv")
if "idle" in by and os.path.exists(idle):
    phases = {}
    with open(idle) as f:
        next(f, None)
        for line in f:
            p = line.split()
            if len(p) == 5:
                phases.setdefault(p[0], []).append(p[1:])
    plots_r, plots_c = [], []
    for i, (ph, v) in enumerate(phases.items()):
        f = write("idle-%d.dat" % i, "".join("%s %.2f %s\n" % (t, int(r) / 1024, c) for t, r, _, c in v))
        plots_r.append("%s using 1:2 with linespoints lw 2 title %s" % (q(f), q(ph)))
        plots_c.append("%s using 1:3 with linespoints lw 2 title %s" % (q(f), q(ph)))
    gp = HEAD + 'set output %s\nset multiplot layout 1,2 title %s\n' % (
        q(os.path.join(d, "idle.png")), q("idle fcd (no traffic) — run " + latest["idle"]))
    gp += 'set xlabel "seconds"\nset ylabel "fcd RSS, MiB"\nset yrange [0:*]\nplot ' + ", ".join(plots_r) + ', 10 with lines dt 2 title "P9: 10 MB"\n'
    gp += 'set ylabel "fcd CPU since start of interval, ticks"\nplot ' + ", ".join(plots_c) + "\n"
    gp += "unset multiplot\n"
    scripts.append(write("idle.gp", gp))

if "cold-start" in by:
    rts = {}
    for r in by["cold-start"]:
        rts.setdefault(r["runtime"], []).append(r["first_byte_ms"])
    plots = []
    for i, (rt, v) in enumerate(sorted(rts.items())):
        f = write("cold-%d.dat" % i, "".join("%d %s\n" % (j + 1, x) for j, x in enumerate(v)))
        plots.append("%s using 1:2 with linespoints lw 2 pt 7 title %s" % (q(f), q(rt)))
    gp = HEAD.replace("1400,560", "900,600") + 'set output %s\nset title %s\n' % (
        q(os.path.join(d, "cold-start.png")), q("cold start: request → first byte — run " + latest["cold-start"]))
    gp += 'set xlabel "sample"\nset ylabel "ms"\nset logscale y\nplot ' + ", ".join(plots) + "\n"
    scripts.append(write("cold-start.gp", gp))

with open(os.path.join(pd, "scripts.txt"), "w") as f:
    f.write("".join(s + "\n" for s in scripts))
EOF

status=0
while read -r gp; do
    png=$(sed -n 's/^set output "\(.*\)"$/\1/p' "$gp" | head -n 1)
    if timeout 60 gnuplot "$gp" 2>"${gp%.gp}.err"; then
        echo "$png"
    else
        echo "plot.sh: gnuplot failed on $gp: $(head -n 3 "${gp%.gp}.err")" >&2
        status=1
    fi
done <"$DIR/plot-data/scripts.txt"
exit "$status"
