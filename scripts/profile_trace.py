#!/usr/bin/env python3
"""Attributes guest instructions to functions from a QEMU `-d exec,nochain,in_asm`
log: instructions per translated block (from in_asm) times executions (from
exec), summed by the kernel or user symbol the block starts in.

Usage: scripts/profile_trace.py LOG KERNEL_ELF USER_ELF [RUNS]
Prints total instructions and the top functions, with a per-run column
(RUNS = how many operations the traced program performed, default 100).
"""
import re, sys, subprocess, bisect, collections
LOG, KERNEL, USER = sys.argv[1], sys.argv[2], sys.argv[3]
RUNS = int(sys.argv[4]) if len(sys.argv) > 4 else 100
tb = {}
execs = collections.Counter()
cur = None
cnt = 0
with open(LOG, 'r', errors='replace') as f:
    for line in f:
        if line.startswith('IN:'):
            if cur is not None: tb[cur] = cnt
            cur = None; cnt = 0
            continue
        if line.startswith('0x'):
            colon = line.find(':')
            rest = line[colon+1:].strip()
            if len(re.split(r'\s{2,}', rest)) < 2:
                continue  # continuation of a long instruction's bytes
            if cur is None:
                cur = int(line[2:colon], 16)
            cnt += 1
            continue
        if line.startswith('Trace'):
            if cur is not None:
                tb[cur] = cnt; cur = None
            m = line.find('[')
            parts = line[m+1:].split('/')
            pc = int(parts[1], 16)
            if pc >= 0xffffffff80000000 or 0x400000 <= pc < 0x600000:
                execs[pc] += 1
if cur is not None: tb[cur] = cnt
def syms(path, user):
    out = subprocess.run(['nm', '-C', '--defined-only', '-n', path], capture_output=True, text=True).stdout
    res = []
    for l in out.splitlines():
        p = l.split(' ', 2)
        if len(p) == 3 and p[1] in 'tTwW':
            res.append((int(p[0], 16), p[2]))
    return res
k = syms(KERNEL, False)
u = syms(USER, True)
allsyms = sorted(k + u)
addrs = [a for a, _ in allsyms]
byfn = collections.Counter()
total = 0
for pc, n in execs.items():
    c = tb.get(pc, 0) * n
    total += c
    i = bisect.bisect_right(addrs, pc) - 1
    name = allsyms[i][1] if i >= 0 else '?'
    byfn[name[:110]] += c
print("total instructions (kernel+user 0x400000..):", total)
for name, c in byfn.most_common(45):
    print(f"{c:10d} {c/RUNS:9.1f}  {name}")
