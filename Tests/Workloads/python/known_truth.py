"""Known-truth CPython workload for tandem's live tests (Tests/EndToEndTests/CPythonTests.swift).

Every round, at a fixed recursion depth, runs the same loop for 5, 2 and 3 units of work in a
plain function (alpha), a class method (Calc.beta) and a package module's function (gamma): about
alpha 50%, Calc.beta 20%, gamma 30% of the innermost Python frames. The truth the tests use is
measured: each function's thread CPU time, summed, printed as `truth alpha=NS beta=NS gamma=NS`.
(Keep alpha and beta on their lines: the replay fixture cpython-3.11.tndm was recorded with them.)
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


import time  # noqa: E402  (here, not above: alpha and beta keep their lines)

# Per thread, the CPU nanoseconds spent in alpha, beta and gamma; the main thread prints the sums.
SPENT = []
clock = time.thread_time_ns


def descend(depth, calc, spent):
    if depth > 0:
        return descend(depth - 1, calc, spent)
    start = clock()
    total = alpha(5)
    after_alpha = clock()
    total += calc.beta(2)
    after_beta = clock()
    total += gamma(3, UNIT)
    spent[0] += after_alpha - start
    spent[1] += after_beta - after_alpha
    spent[2] += clock() - after_beta
    return total


def work(reports=False):
    calc = Calc()
    spent = [0, 0, 0]
    SPENT.append(spent)
    next_report = time.monotonic()
    while True:
        descend(DEPTH, calc, spent)
        if reports and time.monotonic() >= next_report:
            next_report += 0.2
            # Plain loops: a comprehension or generator would be a Python function of its own.
            sums = [0, 0, 0]
            for thread in list(SPENT):
                sums[0] += thread[0]
                sums[1] += thread[1]
                sums[2] += thread[2]
            print("truth alpha=%d beta=%d gamma=%d" % (sums[0], sums[1], sums[2]), flush=True)


def main():
    comm, threads = sys.argv[1], int(sys.argv[2])
    # The process's name in the profile (the main thread's; threads started later inherit it).
    ctypes.CDLL(None).prctl(15, comm.encode()[:15], 0, 0, 0)
    for _ in range(threads - 1):
        threading.Thread(target=work, daemon=True).start()
    print("ready", flush=True)
    work(reports=True)


main()
