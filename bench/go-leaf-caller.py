#!/usr/bin/env python3
"""Which samples of a Go process keep the caller of its frameless leaf.

Usage: bench/go-leaf-caller.py CAPTURE PID BINARY
   CAPTURE  a capture file (tandem-aggregator serve --capture DIR writes one per stream)
   PID      the Go process (Tests/Workloads/unwind_go.go)
   BINARY   its executable (static, not PIE: stack addresses are its link-time addresses)

A sample in main.leaf keeps the leaf's caller when its second user frame returns just
after a `call main.leaf` (e8 rel32 whose target is main.leaf): that is exact, unlike the
frame names (a frame-pointer walk of middle -> leaf shows main.main -> leaf, which looks
like the direct call). Prints one JSON object: samples of the process, samples in the
leaf, those missing its caller, the time (ms) from the process's start (/proc start time,
10 ms ticks) to its first sample, to its last sample missing the caller and to its first
sample of middle -> leaf (only a table walk shows that), and the share from the first sample.
"""
import json
import re
import subprocess
import sys

capture, pid, binary = sys.argv[1], int(sys.argv[2]), sys.argv[3]
aggregator = sys.argv[4] if len(sys.argv) > 4 else ".build/debug/tandem-aggregator"

symbols = {}
for line in subprocess.run(["go", "tool", "nm", "-size", binary], capture_output=True, text=True, check=True).stdout.splitlines():
    fields = line.split()
    if len(fields) == 4 and fields[2] in "Tt":
        symbols[fields[3]] = (int(fields[0], 16), int(fields[1]))
segments = []
for line in subprocess.run(["readelf", "-lW", binary], capture_output=True, text=True, check=True).stdout.splitlines():
    fields = line.split()
    if fields and fields[0] == "LOAD":
        segments.append((int(fields[1], 16), int(fields[2], 16), int(fields[4], 16)))
image = open(binary, "rb").read()


def name(address):
    for symbol, (start, size) in symbols.items():
        if start <= address < start + size:
            return symbol
    return "?"


def calls(return_address, target):
    """Whether the five bytes before return_address are `call target`."""
    for offset, vaddr, size in segments:
        if vaddr + 5 <= return_address <= vaddr + size:
            at = offset + return_address - vaddr - 5
            if image[at] != 0xE8:
                return False
            relative = int.from_bytes(image[at + 1:at + 5], "little", signed=True)
            return return_address + relative == target
    return False


leaf = symbols["main.leaf"]
middle = symbols["main.middle"]
stacks = {}
start = None
samples = []
lines = subprocess.run([aggregator, "inspect", capture], capture_output=True, text=True).stdout.splitlines()
for line in lines:
    fields = line.split(" ", 2)
    if len(fields) < 3:
        continue
    kind, rest = fields[1], fields[2]
    if kind == "stack" and " user " in rest:
        ident = rest.split(" ", 1)[0]
        stacks[ident] = [int(f, 16) for f in rest.split(":", 1)[1].split()]
    elif kind == "process" and f"pid={pid} " in rest:
        start = int(re.search(r"start=(\d+)", rest).group(1))
    elif kind == "sample" and f" pid={pid} " in f" {rest}":
        time = int(re.search(r"t=(\d+)", rest).group(1))
        reference = re.search(r"ustack=(#\d+)", rest)
        samples.append((time, stacks.get(reference.group(1), []) if reference else []))

in_leaf = [(t, s) for t, s in samples if s and leaf[0] <= s[0] < leaf[0] + leaf[1]]
missing = [(t, s) for t, s in in_leaf if len(s) < 2 or not calls(s[1], leaf[0])]
through_middle = [t for t, s in in_leaf if len(s) > 1 and middle[0] <= s[1] < middle[0] + middle[1]]
first = samples[0][0] if samples else None


def ms(t):
    return None if t is None or start is None else round((t - start) / 1e6)


print(json.dumps({
    "samples": len(samples), "in_leaf": len(in_leaf), "missing_caller": len(missing),
    "missing_share": round(len(missing) / len(in_leaf), 4) if in_leaf else None,
    "ms_to_first_sample": ms(first),
    "ms_to_last_missing": ms(missing[-1][0]) if missing else None,
    "ms_to_first_middle_leaf": ms(through_middle[0]) if through_middle else None,
    "missing_examples": sorted({";".join(name(a) for a in s[:4]) for _, s in missing})[:4],
}))
