#!/usr/bin/env python3
"""Reads what bench/jfr-compare.sh and bench/node-cpu-prof-compare.sh recorded and prints
their Markdown tables: tandem's shares of a known-truth workload beside a runtime's own
profiler's, and the workload's measured truth.

usage:
  bench/runtime-compare.py jfr FOLDED COMM JFR_JSON WORKLOAD_LOG
      tandem's stacks.folded (the process named COMM) against `jfr print --json --events
      jdk.ExecutionSample` of the same JVM (Tests/Workloads/jvm/KnownTruth.java).
  bench/runtime-compare.py cpuprof FOLDED COMM CPUPROFILE WORKLOAD_LOG
      the same against the .cpuprofile `node --cpu-prof` wrote (Tests/Workloads/node/known_truth.js).
  bench/runtime-compare.py window jvm|node FOLDED COMM WORKLOAD_LOG FROM_LINE
      tandem alone over a window of the workload's life (bench/started-before.sh): the share
      of the process's samples with the runtime's frames, and the innermost measured method's
      shares beside the truth the workload measured over the same window (its cumulative
      truth lines: the last one minus the last one among the log's first FROM_LINE lines).

Each prints two tables. The innermost measured method: per sample, the innermost of the
workload's three measured methods on its stack, as the live tests count (JVMTests,
V8Tests), beside the truth the workload printed last (its cumulative CPU time per method).
The top 10 leaves: the leaf frame's method over all the process's samples, by each profiler
(JFR's execution samples hold Java threads in Java code only; tandem's hold every thread and
native frames too, so the two tables need not hold the same rows).
"""
import json
import re
import sys
from collections import Counter

JVM_MEASURED = [("alpha", "tandem.truth.KnownTruth.alpha"), ("beta", "tandem.truth.KnownTruth$Calc.beta"),
                ("gamma", "tandem.truth.KnownTruth.lambda$work$0")]
NODE_MEASURED = [("alpha", "fnAlpha"), ("beta", "beta"), ("gamma", "fnGamma")]


def function_name(segment):
    """`name` of a folded segment `name (file:line)`."""
    match = re.match(r"^(.*) \(([^()]*)\)$", segment)
    return match.group(1) if match else segment


def folded(path, comm):
    """(frames root first, count) of the process named comm (the first segment)."""
    for line in open(path, encoding="utf-8", errors="replace"):
        stack, _, count = line.rstrip("\n").rpartition(" ")
        frames = stack.split(";")
        if frames and frames[0] == comm:
            yield [function_name(f) for f in frames[1:]], int(count)


def truth(log, from_line=0):
    """The shares of the workload's last `truth alpha=N beta=N gamma=N` line (cumulative CPU
    time per method), less the last such line among the log's first from_line lines."""
    def spent(line):
        values = dict(field.split("=", 1) for field in line.split()[1:])
        return {key: float(values[key]) for key in ("alpha", "beta", "gamma")}
    last, base = None, {"alpha": 0.0, "beta": 0.0, "gamma": 0.0}
    for number, line in enumerate(open(log, encoding="utf-8", errors="replace"), start=1):
        if line.startswith("truth "):
            last = line
            if number <= from_line:
                base = spent(line)
    if last is None:
        sys.exit(f"runtime-compare.py: no truth line in {log}")
    spent = {key: value - base[key] for key, value in spent(last).items()}
    total = sum(spent.values())
    return {key: 100.0 * value / total for key, value in spent.items()} if total else {}


def innermost(stacks, measured):
    """Samples per measured method, innermost on the stack (stacks root first)."""
    names = {name: key for key, name in measured}
    counts = Counter()
    for frames, count in stacks:
        key = next((names[f] for f in reversed(frames) if f in names), None)
        if key:
            counts[key] += count
    return counts


def leaves(stacks):
    counts = Counter()
    for frames, count in stacks:
        counts[frames[-1] if frames else "(no frames)"] += count
    return counts


def percent(part, whole):
    return f"{100.0 * part / whole:.1f}" if whole else "–"


def print_tables(peer, measured, tandem_stacks, peer_stacks, log):
    truth_shares = truth(log)
    ours, theirs = innermost(tandem_stacks, measured), innermost(peer_stacks, measured)
    ours_total, theirs_total = sum(ours.values()), sum(theirs.values())
    print(f"| innermost measured method | truth % | tandem % | {peer} % |")
    print("|---|---:|---:|---:|")
    for key, name in measured:
        print(f"| `{name}` | {truth_shares.get(key, float('nan')):.1f} | {percent(ours[key], ours_total)} "
              f"| {percent(theirs[key], theirs_total)} |")
    all_ours = sum(c for _, c in tandem_stacks)
    all_theirs = sum(c for _, c in peer_stacks)
    print(f"| samples with one of them / all samples | | {ours_total} / {all_ours} | {theirs_total} / {all_theirs} |")
    print()
    ours_leaves, theirs_leaves = leaves(tandem_stacks), leaves(peer_stacks)
    top_ours, top_theirs = ours_leaves.most_common(10), theirs_leaves.most_common(10)
    print(f"| # | tandem: leaf | % | {peer} % of it | {peer}: leaf | % | tandem % of it |")
    print("|---:|---|---:|---:|---|---:|---:|")
    for rank in range(max(len(top_ours), len(top_theirs))):
        cells = []
        if rank < len(top_ours):
            name, count = top_ours[rank]
            cells += [f"`{name}`", percent(count, all_ours), percent(theirs_leaves.get(name, 0), all_theirs)]
        else:
            cells += ["", "", ""]
        if rank < len(top_theirs):
            name, count = top_theirs[rank]
            cells += [f"`{name}`", percent(count, all_theirs), percent(ours_leaves.get(name, 0), all_ours)]
        else:
            cells += ["", "", ""]
        print(f"| {rank + 1} | " + " | ".join(cells) + " |")


def jfr_stacks(path):
    """(frames root first, 1) per jdk.ExecutionSample of `jfr print --json`."""
    document = json.load(open(path, encoding="utf-8"))
    events = document.get("recording", {}).get("events", [])
    stacks = []
    for event in events:
        if event.get("type") != "jdk.ExecutionSample":
            continue
        frames = (event.get("values", {}).get("stackTrace") or {}).get("frames") or []
        names = []
        for frame in frames:  # innermost first
            method = frame.get("method") or {}
            # Class names come in their internal form (`tandem/truth/KnownTruth$Calc`).
            type_name = (method.get("type") or {}).get("name", "?").replace("/", ".")
            names.append(f"{type_name}.{method.get('name', '?')}")
        stacks.append((list(reversed(names)), 1))
    return stacks


def cpuprofile_stacks(path):
    """(frames root first, 1) per sample of a .cpuprofile (V8's CPU profile JSON: a tree of
    nodes with their callFrame and children, and the node of each sample)."""
    profile = json.load(open(path, encoding="utf-8"))
    nodes = {node["id"]: node for node in profile["nodes"]}
    parent = {}
    for node in profile["nodes"]:
        for child in node.get("children", []):
            parent[child] = node["id"]
    paths = {}

    def path_of(node_id):
        if node_id not in paths:
            names, current = [], node_id
            while current is not None:
                frame = nodes[current]["callFrame"]
                names.append(frame.get("functionName") or "(anonymous)")
                current = parent.get(current)
            # The tree's root is `(root)`: not a frame.
            paths[node_id] = list(reversed(names))[1:]
        return paths[node_id]

    return [(path_of(sample), 1) for sample in profile.get("samples", [])]


def print_window(runtime, folded_path, comm, log, from_line):
    """Coverage and innermost shares of tandem's stacks of one process (see the usage)."""
    suffix, measured = (".java", JVM_MEASURED) if runtime == "jvm" else (".js", NODE_MEASURED)
    total = with_runtime = 0
    stacks = []
    for line in open(folded_path, encoding="utf-8", errors="replace"):
        stack, _, count = line.rstrip("\n").rpartition(" ")
        frames = stack.split(";")
        if not frames or frames[0] != comm:
            continue
        total += int(count)
        files = [re.match(r"^.* \(([^():]*)(:\d+)?\)$", f) for f in frames[1:]]
        if any(m and m.group(1).endswith(suffix) for m in files):
            with_runtime += int(count)
        stacks.append(([function_name(f) for f in frames[1:]], int(count)))
    truth_shares = truth(log, from_line)
    ours = innermost(stacks, measured)
    ours_total = sum(ours.values())
    print(f"samples of {comm}: {total}; with {runtime} frames: {with_runtime} ({percent(with_runtime, total)} %); "
          f"with a measured method: {ours_total}")
    print()
    print("| innermost measured method | truth over the window % | tandem % | points apart |")
    print("|---|---:|---:|---:|")
    for key, name in measured:
        share = 100.0 * ours[key] / ours_total if ours_total else float("nan")
        print(f"| `{name}` | {truth_shares.get(key, float('nan')):.1f} | {share:.1f} "
              f"| {abs(share - truth_shares.get(key, float('nan'))):.1f} |")


def main(argv):
    if len(argv) == 7 and argv[1] == "window" and argv[2] in ("jvm", "node"):
        print_window(argv[2], argv[3], argv[4], argv[5], int(argv[6]))
        return
    if len(argv) != 6 or argv[1] not in ("jfr", "cpuprof"):
        sys.exit(__doc__)
    _, kind, folded_path, comm, peer_path, log = argv
    tandem_stacks = list(folded(folded_path, comm))
    if kind == "jfr":
        print_tables("JFR", JVM_MEASURED, tandem_stacks, jfr_stacks(peer_path), log)
    else:
        print_tables("--cpu-prof", NODE_MEASURED, tandem_stacks, cpuprofile_stacks(peer_path), log)


if __name__ == "__main__":
    main(sys.argv)
