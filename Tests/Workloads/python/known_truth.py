"""Known-truth CPython workload for tandem's live tests (Tests/EndToEndTests/CPythonTests.swift).

Every round, at a fixed recursion depth, runs the same loop in three functions for 5, 2
and 3 units of work (small integers only, so that every iteration costs the same): a plain function (alpha), a class method (Calc.beta) and a function
of a module in a package (tandem_pkg.sub.gamma_mod.gamma). So the innermost Python
function of the samples is alpha 50%, Calc.beta 20%, gamma 30%, whatever the version.

usage: known_truth.py COMM THREADS   (runs until killed; prints "ready" once named)
"""
import ctypes
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tandem_pkg.sub.gamma_mod import gamma  # noqa: E402

UNIT = 10000
DEPTH = 12


def alpha(units):
    total = 0
    for i in range(units * UNIT):
        total = (total + i * 7) & 0xFFFF
    return total


class Calc:
    def beta(self, units):
        total = 0
        for i in range(units * UNIT):
            total = (total + i * 7) & 0xFFFF
        return total


def descend(depth, calc):
    if depth > 0:
        return descend(depth - 1, calc)
    return alpha(5) + calc.beta(2) + gamma(3, UNIT)


def work():
    calc = Calc()
    while True:
        descend(DEPTH, calc)


def main():
    comm, threads = sys.argv[1], int(sys.argv[2])
    # The process's name in the profile (the main thread's; threads started later inherit it).
    ctypes.CDLL(None).prctl(15, comm.encode()[:15], 0, 0, 0)
    for _ in range(threads - 1):
        threading.Thread(target=work, daemon=True).start()
    print("ready", flush=True)
    work()


main()
