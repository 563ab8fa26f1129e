#!/usr/bin/env python3
"""Reads what bench/cpython.sh recorded and prints its Markdown table rows.

usage:
  bench/cpython.py versions OUTDIR CAPTURE_DIR AGGREGATOR COMM=PID...
      per workload: samples, innermost-Python-function shares (known truth: alpha 50,
      Calc.beta 20, gamma 30), % of samples with Python frames, samples.cpython.count
      (metrics.jsonl) vs samples whose leaf is a Python frame (stacks.folded), and from the
      capture the time and samples from the process's first sample to its first sample
      with Python frames, and the share with Python frames after that one.
  bench/cpython.py peer OUTDIR COMM PYSPY_RAW
      the same workload's innermost-Python-function shares by tandem and by py-spy.
  bench/cpython.py summary OUTPUT
      the ranges over the runs of what bench/cpython.sh printed (its standard output).
"""
import glob
import json
import os
import re
import statistics
import subprocess
import sys

# Tests/Workloads/python/known_truth.py: the functions of a unit of work and their shares.
# 3.8-3.10 have no qualified names (`beta`, not `Calc.beta`).
TRUTH = [("alpha", {"alpha"}, 50.0), ("Calc.beta", {"Calc.beta", "beta"}, 20.0), ("gamma", {"gamma"}, 30.0)]
PYTHON_FUNCTIONS = {"alpha", "Calc.beta", "beta", "gamma", "descend", "work", "main", "<module>"}


def function_name(segment):
    """`name` of a folded segment `name (file:line)` (tandem and py-spy both write this)."""
    match = re.match(r"^(.*) \([^()]*\)$", segment)
    return match.group(1) if match else segment


def folded(path):
    for line in open(path, encoding="utf-8", errors="replace"):
        line = line.rstrip("\n")
        if not line:
            continue
        stack, _, count = line.rpartition(" ")
        yield stack.split(";"), int(count)


def analyse(stacks):
    """Counts of one process's stacks (root first): total, with Python frames, Python leaf,
    and the innermost known-truth function."""
    total = with_python = python_leaf = 0
    innermost = {label: 0 for label, _, _ in TRUTH}
    for frames, count in stacks:
        total += count
        names = [function_name(f) for f in frames]
        if not any(n in PYTHON_FUNCTIONS for n in names):
            continue
        with_python += count
        if names[-1] in PYTHON_FUNCTIONS:
            python_leaf += count
        for name in reversed(names):
            label = next((label for label, aliases, _ in TRUTH if name in aliases), None)
            if label:
                innermost[label] += count
                break
    return total, with_python, python_leaf, innermost


def shares(innermost):
    measured = sum(innermost.values())
    return measured, {label: (100.0 * innermost[label] / measured if measured else float("nan")) for label in innermost}


def cpython_count(metrics_path, pid):
    total = 0
    for line in open(metrics_path, encoding="utf-8"):
        document = json.loads(line)
        for resource_metrics in document.get("resourceMetrics", []):
            attributes = {a["key"]: next(iter(a["value"].values())) for a in resource_metrics.get("resource", {}).get("attributes", [])}
            if str(attributes.get("process.pid")) != str(pid):
                continue
            for scope in resource_metrics.get("scopeMetrics", []):
                for metric in scope.get("metrics", []):
                    if metric.get("name") != "samples.cpython.count":
                        continue
                    data = metric.get("sum") or metric.get("gauge") or {}
                    total += sum(int(p.get("asInt", 0)) for p in data.get("dataPoints", []))
    return total


def first_frames(capture_dir, aggregator, pids):
    """Per pid from the captures (stream order): time of the first sample, of the first one
    with Python frames, samples before that one, and samples / with frames from it on."""
    result = {pid: {"first": None, "first_py": None, "before": 0, "after": 0, "with": 0} for pid in pids}
    # `inspect` prints each record after its offset: `OFFSET sample t=... pid=... [pystack=#N(M frames) pyflags=F]`
    sample = re.compile(r"^\d+ sample t=(\d+) pid=(\d+) ")
    pystack = re.compile(r" pystack=(#\d+)")
    for capture in sorted(glob.glob(os.path.join(capture_dir, "*"))):
        process = subprocess.Popen([aggregator, "inspect", capture], stdout=subprocess.PIPE, text=True)
        for line in process.stdout:
            if " sample " not in line:
                continue
            match = sample.match(line.rstrip("\n"))
            if not match or int(match.group(2)) not in result:
                continue
            entry = result[int(match.group(2))]
            time = int(match.group(1))
            has_frames = pystack.search(line) is not None
            if entry["first"] is None:
                entry["first"] = time
            if has_frames and entry["first_py"] is None:
                entry["first_py"] = time
            if entry["first_py"] is None:
                entry["before"] += 1
            else:
                entry["after"] += 1
                entry["with"] += has_frames
        process.wait()
    return result


def percent(part, whole):
    return f"{100.0 * part / whole:.1f}" if whole else "–"


def versions(outdir, capture_dir, aggregator, pairs):
    """pairs: COMM=PID, the comm being the name of the link the interpreter ran through."""
    stacks = list(folded(os.path.join(outdir, "stacks.folded")))
    workloads = [(comm, int(pid)) for comm, pid in (pair.split("=", 1) for pair in pairs)]
    walks = first_frames(capture_dir, aggregator, [pid for _, pid in workloads])
    links = os.environ.get("TANDEM_BENCH_LINKS", ".")
    print("| comm | interpreter | samples | alpha % (50) | Calc.beta % (20) | gamma % (30) | with Python frames % "
          "| samples.cpython.count / Python-leaf samples | first sample → first with Python frames | "
          "with Python frames from then on % |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    notes = []
    for comm, pid in workloads:
        total, with_python, python_leaf, innermost = analyse((f, c) for f, c in stacks if f[0] == comm)
        _, share = shares(innermost)
        walk = walks[pid]
        if walk["first"] is None:
            delay = "no sample"
        elif walk["first_py"] is None:
            delay = "never"
        else:
            delay = f"{(walk['first_py'] - walk['first']) / 1e6:.0f} ms ({walk['before']} samples)"
        count = cpython_count(os.path.join(outdir, "metrics.jsonl"), pid)
        target = os.readlink(os.path.join(links, comm)) if os.path.islink(os.path.join(links, comm)) else "?"
        print(f"| {comm} | {target} | {total} | "
              + " | ".join(f"{share[label]:.1f}" for label, _, _ in TRUTH)
              + f" | {percent(with_python, total)} | {count} / {python_leaf} | {delay} | {percent(walk['with'], walk['after'])} |")
        if total != walk["before"] + walk["after"]:
            notes.append(f"{comm}: {total} samples in stacks.folded, {walk['before'] + walk['after']} of pid {pid} in the capture"
                         " (another process with this comm?)")
    for note in notes:
        print(f"\nwarning: {note}")


def peer(outdir, comm, pyspy_raw):
    tandem = analyse((f, c) for f, c in folded(os.path.join(outdir, "stacks.folded")) if f[0] == comm)
    # py-spy's raw format: `process / thread frames;...;leaf count`, root first, like folded stacks.
    pyspy = analyse(folded(pyspy_raw))
    (t_measured, t_share), (p_measured, p_share) = shares(tandem[3]), shares(pyspy[3])
    print("| innermost Python function | truth % | tandem % | py-spy % |")
    print("|---|---:|---:|---:|")
    for label, _, truth in TRUTH:
        print(f"| {label} | {truth:.0f} | {t_share[label]:.1f} | {p_share[label]:.1f} |")
    print(f"| samples with one of them / all samples of the process | | {t_measured} / {tandem[0]} | {p_measured} / {pyspy[0]} |")


def summary(path):
    """Ranges (min-max) per interpreter and start over the versions tables, per walk over the
    cost table, and per function over the peer tables of one bench/cpython.sh output."""
    def span(values, digits=1):
        values = [v for v in values if v is not None]
        if not values:
            return "–"
        low, high = min(values), max(values)
        return f"{low:.{digits}f}" if low == high else f"{low:.{digits}f}–{high:.{digits}f}"

    versions, cost, peer = {}, {}, {}
    section = None
    for line in open(path, encoding="utf-8"):
        heading = re.match(r"^### (versions|cost|peer)\b(?:, run \d+: workloads started (after|before))?", line)
        if heading:
            section = (heading.group(1), heading.group(2))
            continue
        if not line.startswith("| ") or line.startswith("| comm") or line.startswith("| run") or line.startswith("| innermost"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if section and section[0] == "versions" and len(cells) == 10:
            entry = versions.setdefault((cells[0], cells[1]), {}).setdefault(section[1], [])
            count, leaf = (int(x) for x in cells[7].split(" / "))
            delay = re.match(r"(\d+) ms", cells[8])
            entry.append({"samples": int(cells[2]), "shares": [float(x) for x in cells[3:6]], "with": float(cells[6]),
                          "equal": count == leaf, "delay": int(delay.group(1)) if delay else None,
                          "then": float(cells[9]) if cells[9] != "–" else None})
        elif section and section[0] == "cost" and len(cells) == 7:
            walked = re.match(r"(\d+) \((\d+) %\)", cells[4])
            cost.setdefault(cells[1], []).append({"run": cells[0], "us": float(cells[2]), "runs": int(cells[3]),
                                                  "walks": int(walked.group(1)) if walked else 0,
                                                  "cpu": float(cells[5].rstrip("%"))})
        elif section and section[0] == "peer" and len(cells) == 4 and cells[1]:
            peer.setdefault(cells[0], []).append((float(cells[2]), float(cells[3])))
    if versions:
        print("| interpreter | start | samples | alpha % (50) | Calc.beta % (20) | gamma % (30) | with Python frames % "
              "| first sample → first with Python frames, ms | with Python frames from then on % | samples.cpython.count = Python-leaf samples |")
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
        for (comm, interpreter), starts in versions.items():
            for start in ("after", "before"):
                runs = starts.get(start, [])
                if not runs:
                    continue
                print(f"| {comm} ({interpreter}) | {start} | {span([r['samples'] for r in runs], 0)} | "
                      + " | ".join(span([r["shares"][i] for r in runs]) for i in range(3))
                      + f" | {span([r['with'] for r in runs])} | {span([r['delay'] for r in runs], 0)} | "
                      + f"{span([r['then'] for r in runs])} | {sum(r['equal'] for r in runs)} of {len(runs)} runs |")
        print()
    if cost:
        print("| Python walk | runs | BPF µs per run: range | median | sampler CPU per wall second %: range | median | runs walked % |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for walk, runs in cost.items():
            print(f"| {walk} | {len(runs)} | {span([r['us'] for r in runs], 2)} | {statistics.median(r['us'] for r in runs):.2f} | "
                  f"{span([r['cpu'] for r in runs], 3)} | {statistics.median(r['cpu'] for r in runs):.3f} | "
                  f"{span([100 * r['walks'] / r['runs'] for r in runs], 0)} |")
        on, off = cost.get("on", []), cost.get("off", [])
        extra = [(a["us"] - b["us"]) * a["runs"] / a["walks"] for a, b in zip(on, off) if a["walks"]]
        if extra:
            print(f"\nextra BPF µs per walked sample, (on − off) × runs / walks, per pair of runs: "
                  + ", ".join(f"{e:.1f}" for e in extra) + f"; median {statistics.median(extra):.1f}")
        print()
    if peer:
        print("| innermost Python function | tandem % | py-spy % |")
        print("|---|---:|---:|")
        for function, runs in peer.items():
            print(f"| {function} | {span([t for t, _ in runs])} | {span([p for _, p in runs])} |")


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "versions" and len(sys.argv) >= 6:
        versions(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:])
    elif command == "peer" and len(sys.argv) == 5:
        peer(sys.argv[2], sys.argv[3], sys.argv[4])
    elif command == "summary" and len(sys.argv) == 3:
        summary(sys.argv[2])
    else:
        sys.exit(__doc__)
