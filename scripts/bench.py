#!/usr/bin/python3
"""make bench: measure the series, tabulate, write a report and a plot.

Runs, REPS times over and interleaved (A B A B ...), nvme-bench's suites
(NVM on this series and on pristine upstream QEMU, NVM over vfio-user, the
computational storage commands) and nvme-bpf-bench; then prints a table of
ratios with their goals and writes build/bench/report.md, report.png and
figures.tsv.  docs/system/devices/nvme-csd.rst says how to read them.
"""

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(TOP, "build")
OURS = os.path.join(BUILD, "qemu", "build")
PRISTINE = os.path.join(BUILD, "pristine", "build")
NVME_BENCH = os.path.join(OURS, "tests", "qtest", "nvme-bench")
NVM_TURNS = 3           # turns of the NVM suites in each repetition
BPF_BENCH = os.path.join(OURS, "tests", "bench", "nvme-bpf-bench")

# The comparisons: (section, its tag in the plot, [(label, figure,
# reference figure, goal)]).
# Figures are "config:name".  A figure in us is a time (lower is better),
# in GB/s a rate; every ratio is a speed ratio, the reference's time over
# the figure's (or the figure's rate over the reference's): above 1 the
# figure is faster.  A goal is the least ratio wanted, or None.
COMPARISONS = [
    ("This series against pristine upstream QEMU 10.2.2, in process",
     "vs upstream", [("NVM 4 KiB random read, QD1", "ours:nvm.read.qd1",
       "upstream:nvm.read.qd1", 0.98),
      ("NVM 4 KiB random write, QD1", "ours:nvm.write.qd1",
       "upstream:nvm.write.qd1", 0.98),
      ("NVM 4 KiB random read, QD32", "ours:nvm.read.qd32",
       "upstream:nvm.read.qd32", 0.98),
      ("NVM 4 KiB random write, QD32", "ours:nvm.write.qd32",
       "upstream:nvm.write.qd32", 0.98)]),
    ("Over vfio-user against in process", "vfio-user", [("4 KiB random read, QD1 latency", "ours:vfu.read.qd1",
       "ours:nvm.read.qd1", None),
      ("4 KiB random write, QD1 latency", "ours:vfu.write.qd1",
       "ours:nvm.write.qd1", None),
      ("4 KiB random read, QD32 throughput", "ours:vfu.read.qd32",
       "ours:nvm.read.qd32", 0.8),
      ("4 KiB random write, QD32 throughput", "ours:vfu.write.qd32",
       "ours:nvm.write.qd32", 0.8)]),
    ("Execute Program against a 4 KiB NVM Read (QD1)", "Execute", [("device-defined sum of 4 KiB", "ours:exec.reduce.qd1",
       "ours:csd.read.qd1", 1 / 1.5),
      ("downloaded eBPF sum of 4 KiB", "ours:exec.bpf.qd1",
       "ours:csd.read.qd1", None)]),
    ("SLM against NVM, 4 KiB (QD1)", "SLM", [("Memory Read against NVM Read", "ours:slm.read.qd1",
       "ours:csd.read.qd1", None),
      ("Memory Write against NVM Write", "ours:slm.write.qd1",
       "ours:csd.write.qd1", None)]),
    ("SLM Memory Copy (format 4h) against memcpy() on the host",
     "Memory Copy", [("%s" % size, "ours:slm.copy.%dk" % kib, "ours:memcpy.%dk" % kib,
       0.8 if kib >= 1024 else None)
      for size, kib in (("4 KiB", 4), ("64 KiB", 64), ("1 MiB", 1024),
                        ("16 MiB", 16384), ("64 MiB", 65536))]),
    ("Device-defined programs against native C on the host", "program",
     [(name, "ours:prog." + name, "ours:native." + name, 0.9)
      for name in ("sha256", "crc32c", "filter", "compress")]),
    ("Downloaded eBPF programs against native C on the host", "eBPF",
     [("%s, %s" % (name, engine), "ours:bpf.%s.%s" % (engine, name),
       "ours:bpf.native." + name, None)
      for engine in ("jit", "interp")
      for name in ("sum", "filter", "crc32c")]),
]

# The harness's own share of a time figure: the figure of the same run
# whose commands the controller fails at once.
HARNESS = [
    (re.compile(r"^(nvm|vfu)\.\w+\.qd(\d+)$"), r"\1.null.qd\2"),
    (re.compile(r"^(csd|exec|slm)\.\w+\.qd1$"), "csd.null.qd1"),
]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run_suite(figures, config, binary, argv):
    """Run a benchmark program; add its figures under @config."""
    env = dict(os.environ, QTEST_QEMU_BINARY=binary)
    t = time.monotonic()
    out = subprocess.run(argv, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    if out.returncode:
        sys.exit("bench: %s failed:\n%s" % (" ".join(argv), out.stderr))
    for line in out.stdout.splitlines():
        f = line.split()
        if len(f) == 4 and f[0] == "figure":
            figures.setdefault("%s:%s" % (config, f[1]), []).append(
                (float(f[2]), f[3]))
        m = re.match(r"^(\w+)\s+([\d.]+) GB/s\s+([\d.]+) GB/s\s+[\d.]+"
                     r"(?:\s+([\d.]+) GB/s)?", line)
        if m:
            for engine, v in (("native", m[2]), ("interp", m[3]),
                              ("jit", m[4])):
                if v:
                    figures.setdefault("%s:bpf.%s.%s" % (config, engine,
                                                          m[1]),
                                       []).append((float(v), "GB/s"))
    log("  %-32s %5.1f s" % (config + " " + " ".join(argv[1:]),
                             time.monotonic() - t))


def best(values):
    """The best of a figure's values: the least time, the greatest rate."""
    v = [x for x, _ in values]
    return min(v) if values[0][1] == "us" else max(v)


def speed(values):
    """Values as speeds, higher is better: 1/time or the rate."""
    return [1 / x if u == "us" else x for x, u in values]


def best_ratio(figures, fig, ref):
    """Speed ratio of @fig's best value to @ref's."""
    return max(speed(figures[fig])) / max(speed(figures[ref]))


def median_ratio(figures, fig, ref):
    """The median speed ratio of @fig to @ref: of the runs of each turn
    when both were measured in every turn (the machine drifts less within
    a turn than across turns), else of their medians."""
    f, r = speed(figures[fig]), speed(figures[ref])
    if len(f) == len(r):
        return statistics.median(a / b for a, b in zip(f, r))
    return statistics.median(f) / statistics.median(r)


def harness_of(fig):
    config, name = fig.split(":")
    for pat, repl in HARNESS:
        if pat.match(name):
            return "%s:%s" % (config, pat.sub(repl, name))
    return None


def fmt(values):
    v = best(values)
    unit = values[0][1]
    return "%.1f us" % v if unit == "us" else "%.3f GB/s" % v


def machine():
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    try:
        args = open(os.path.join(BUILD, "qemu-configure.args")).read()
    except OSError:
        args = "unknown"
    head = subprocess.run(["git", "-C", TOP, "describe", "--always",
                           "--dirty"], stdout=subprocess.PIPE,
                          text=True).stdout.strip()
    return [("CPU", "%s, %d cores" % (model, os.cpu_count())),
            ("Load average at start", "%.2f %.2f %.2f" % os.getloadavg()),
            ("Host", "%s %s" % (platform.system(), platform.release())),
            ("QEMU configure options (both builds)", args.strip()),
            ("This series", head)]


def table(figures, reps):
    """Rows (section, label, figure, reference, best, median, goal, met)."""
    rows = []
    for section, tag, comps in COMPARISONS:
        for label, fig, ref, goal in comps:
            if fig not in figures or ref not in figures:
                continue
            b = best_ratio(figures, fig, ref)
            med = median_ratio(figures, fig, ref)
            met = None if goal is None else med >= goal
            rows.append((section, label, fig, ref, b, med, goal, met, tag))
    return rows


def print_table(rows):
    section = None
    print("%-44s %12s %12s %6s %6s %6s" % ("speed ratio (above 1: faster)",
                                            "figure", "reference",
                                            "best", "median", "goal"))
    for sec, label, fig, ref, b, med, goal, met, _ in rows:
        if sec != section:
            print("\n" + sec)
            section = sec
        print("  %-42s %12s %12s %6.3f %6.3f %6s%s" % (
            label, fmt(FIGURES[fig]), fmt(FIGURES[ref]), b, med,
            "" if goal is None else "%.2f" % goal,
            "" if met is None else (" met" if met else " MISSED")))


def write_report(path, rows, figures, reps, info, png):
    with open(path, "w") as f:
        f.write("# NVMe computational storage benchmarks\n\n")
        for k, v in info:
            f.write("- %s: %s\n" % (k, v))
        f.write("- Repetitions: %d, interleaved (A B A B ...); the NVM "
                "and vfio-user suites %d times\n\n" % (reps, reps * NVM_TURNS))
        f.write("Ratios are speed ratios: the reference's time over the "
                "figure's, or the figure's rate over the reference's "
                "(above 1: faster than the reference).  *best* compares "
                "the best runs; *median* is the median of the ratios of "
                "the runs of each turn (A B A B ...); goals are judged on "
                "the median.  Times are per command; \"harness\" "
                "is the share of a time that the benchmark's own "
                "submission and polling take (the time of commands the "
                "controller fails at once, in the same run): an upper "
                "bound, as those commands still cost the controller its "
                "dispatch; a command as cheap as a 4 KiB Memory Read can "
                "show 100%% or more.\n\n")
        f.write("![ratios](%s)\n" % os.path.basename(png))
        section = None
        for sec, label, fig, ref, b, med, goal, met, _ in rows:
            if sec != section:
                f.write("\n## %s\n\n" % sec)
                f.write("| | figure | reference | best | median | goal |"
                        " harness |\n|---|---|---|---|---|---|---|\n")
                section = sec
            h = harness_of(fig)
            share = ""
            if h in figures:
                share = "%.0f%%" % (100 * best(figures[h]) /
                                    best(figures[fig]))
            f.write("| %s | %s | %s | %.3f | %.3f | %s | %s |\n" % (
                label, fmt(figures[fig]), fmt(figures[ref]), b, med,
                "" if goal is None else "%.2f%s" % (
                    goal, " met" if met else " **missed**"), share))
        f.write("\n## All figures (best, median, of %d runs)\n\n" % reps)
        f.write("| figure | best | median | unit |\n|---|---|---|---|\n")
        for k in sorted(figures):
            v = figures[k]
            f.write("| %s | %.4g | %.4g | %s |\n" % (
                k, best(v), statistics.median(x for x, _ in v), v[0][1]))


def plot(path, rows):
    data = path + ".dat"
    with open(data, "w") as f:
        for i, (sec, label, fig, ref, b, med, goal, met, tag) in \
                enumerate(rows):
            f.write('%d "%s: %s" %.4f %.4f %s\n' % (
                i, tag, label.replace('"', "'"), med, b,
                "NaN" if goal is None else "%.4f" % goal))
    script = """
set terminal pngcairo size 1400,%d font ",10"
set output "%s"
set title "Speed ratios against each reference (median bars, best points, goal marks)"
set xrange [0:*]
set yrange [%g:-0.5]
set ytics nomirror
set grid x
set key bottom right
set style fill solid 0.5
set arrow from 1, graph 0 to 1, graph 1 nohead dt 2
plot "%s" using 3:1:(0):3:($1-0.35):($1+0.35):ytic(2) with boxxyerror title "median", \\
     "" using 4:1 with points pt 7 title "best", \\
     "" using 5:1 with points pt 5 ps 1.5 title "goal"
""" % (120 + 22 * len(rows), path, len(rows) - 0.5, data)
    p = subprocess.run(["gnuplot"], input=script, text=True,
                       stderr=subprocess.PIPE)
    if p.returncode:
        sys.exit("bench: gnuplot failed:\n" + p.stderr)
    os.unlink(data)


FIGURES = {}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=5,
                    help="repetitions of each suite (default 5)")
    ap.add_argument("--out", default=os.path.join(BUILD, "bench"))
    ap.add_argument("--again", action="store_true",
                    help="write the report again from the figures.tsv of "
                    "the last run")
    args = ap.parse_args()
    tsv = os.path.join(args.out, "figures.tsv")

    if args.again:
        with open(tsv) as f:
            for line in f:
                k, _, v, u = line.split("\t")
                FIGURES.setdefault(k, []).append((float(v), u.strip()))
        args.reps = min(len(v) for v in FIGURES.values())
        report(args, None)
        return

    ours = os.path.join(OURS, "qemu-system-x86_64")
    upstream = os.path.join(PRISTINE, "qemu-system-x86_64")
    for f in (ours, upstream, NVME_BENCH):
        if not os.access(f, os.X_OK):
            sys.exit("bench: %s is missing: run make bench" % f)
    os.makedirs(args.out, exist_ok=True)
    info = machine()

    for rep in range(args.reps):
        log("repetition %d of %d" % (rep + 1, args.reps))
        # the NVM suites are short and their figures the noisiest
        for i in range(NVM_TURNS):
            run_suite(FIGURES, "ours", ours, [NVME_BENCH, "nvm"])
            run_suite(FIGURES, "upstream", upstream, [NVME_BENCH, "nvm"])
            run_suite(FIGURES, "ours", ours, [NVME_BENCH, "vfu"])
        run_suite(FIGURES, "ours", ours, [NVME_BENCH, "csd"])
        if os.access(BPF_BENCH, os.X_OK):
            run_suite(FIGURES, "ours", ours, [BPF_BENCH, "16"])

    with open(tsv, "w") as f:
        for k in sorted(FIGURES):
            for i, (v, u) in enumerate(FIGURES[k]):
                f.write("%s\t%d\t%.6g\t%s\n" % (k, i, v, u))
    with open(os.path.join(args.out, "machine.tsv"), "w") as f:
        for k, v in info:
            f.write("%s\t%s\n" % (k, v))
    report(args, info)


def report(args, info):
    rows = table(FIGURES, args.reps)
    md = os.path.join(args.out, "report.md")
    png = os.path.join(args.out, "report.png")
    if info is None:
        with open(os.path.join(args.out, "machine.tsv")) as f:
            info = [tuple(line.rstrip("\n").split("\t", 1)) for line in f]
    write_report(md, rows, FIGURES, args.reps, info, png)
    plot(png, rows)
    print_table(rows)
    print("\nreport: %s\nplot: %s" % (os.path.relpath(md),
                                     os.path.relpath(png)))


if __name__ == "__main__":
    main()
