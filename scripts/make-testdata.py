#!/usr/bin/env python3
"""Writes the boot data modules of the test boot (test-bootdata checks them).

Usage: make-testdata.py DIR
Makes DIR/test-bootdata.bin (three pages and 123 bytes, seed 1) and
DIR/test-bootdata-page.bin (one page, seed 2). Byte i of the module with
seed s is ((i + s) * 2654435761 mod 2^32) >> 24, as in
test-programs/src/bin/test-bootdata.rs.
"""
import os
import sys


def pattern(seed, n):
    return bytes((((i + seed) * 2654435761) & 0xFFFFFFFF) >> 24 for i in range(n))


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, seed, size in (("test-bootdata.bin", 1, 3 * 4096 + 123), ("test-bootdata-page.bin", 2, 4096)):
        with open(os.path.join(out, name), "wb") as f:
            f.write(pattern(seed, size))


if __name__ == "__main__":
    main()
