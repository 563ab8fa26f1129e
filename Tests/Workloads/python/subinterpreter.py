"""A thread that runs Python code in a subinterpreter, for tandem's live tests
(Tests/EndToEndTests/CPythonTests.swift): its samples must show the subinterpreter's
frames (`<module>` of the string, `sub_leaf`) inside the main interpreter's (`outer_main`).

usage: subinterpreter.py COMM   (runs until killed; prints "ready" once named)
"""
import ctypes
import sys

try:
    import _interpreters as interpreters  # 3.13
except ImportError:
    import _xxsubinterpreters as interpreters  # 3.8 to 3.12

CODE = """
def sub_leaf(n):
    total = 0
    for i in range(n):
        total = (total + i * 7) & 0xFFFF
    return total

while True:
    sub_leaf(100000)
"""


def outer_main():
    interpreters.run_string(interpreters.create(), CODE)


ctypes.CDLL(None).prctl(15, sys.argv[1].encode()[:15], 0, 0, 0)
print("ready", flush=True)
outer_main()
