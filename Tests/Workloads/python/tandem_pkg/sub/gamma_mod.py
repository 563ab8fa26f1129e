"""A module inside a package: its frames name this file."""


def gamma(units, unit):
    total = 0
    for i in range(units * unit):
        total = (total + i * 7) & 0xFFFF
    return total
