#!/usr/bin/env python3
"""Attributes guest instructions to functions from QEMU `-d exec,nochain,in_asm`
logs: instructions per translated block (from in_asm) times executions (from
exec), summed by the kernel or user symbol the block starts in.

Usage: scripts/profile_trace.py KERNEL_ELF USER_ELF LOG_A RUNS_A [LOG_B RUNS_B]

With DETAIL=substring in the environment, also lists the translated blocks of
the functions whose names contain it, with their source lines.

With one log, prints each function's instructions over the whole run divided
by RUNS_A (boot included). With two logs of the same program doing RUNS_A and
RUNS_B operations, prints the difference divided by RUNS_B - RUNS_A: the cost
of one operation, with boot and set-up cancelled out.
"""
import re, sys, os, subprocess, bisect, collections


def parse(log):
    """Executions per translated-block start, and instructions per block
    (cached next to the log as LOG.pkl)."""
    import pickle
    cache = log + '.pkl'
    if os.path.exists(cache) and os.path.getmtime(cache) >= os.path.getmtime(log):
        with open(cache, 'rb') as f:
            return pickle.load(f)
    r = parse_log(log)
    with open(cache, 'wb') as f:
        pickle.dump(r, f)
    return r


def parse_log(log):
    tb = {}
    execs = collections.Counter()
    cur = None
    cnt = 0
    with open(log, 'r', errors='replace') as f:
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
    return tb, execs


def syms(path):
    out = subprocess.run(['nm', '-C', '--defined-only', '-n', path], capture_output=True, text=True).stdout
    res = []
    for l in out.splitlines():
        p = l.split(' ', 2)
        if len(p) == 3 and p[1] in 'tTwW':
            res.append((int(p[0], 16), p[2]))
    return res


KERNEL, USER = sys.argv[1], sys.argv[2]
allsyms = sorted(syms(KERNEL) + syms(USER))
addrs = [a for a, _ in allsyms]


DETAIL = os.environ.get('DETAIL')
blocks = {}


def by_function(log):
    tb, execs = parse(log)
    byfn = collections.Counter()
    byblock = collections.Counter()
    for pc, n in execs.items():
        i = bisect.bisect_right(addrs, pc) - 1
        name = allsyms[i][1] if i >= 0 else '?'
        byfn[name[:110]] += tb.get(pc, 0) * n
        if DETAIL and DETAIL in name:
            byblock[(name[:60], pc, tb.get(pc, 0))] += tb.get(pc, 0) * n
    blocks[log] = byblock
    return byfn


a = by_function(sys.argv[3])
runs = int(sys.argv[4])
if len(sys.argv) > 6:
    b = by_function(sys.argv[5])
    runs = int(sys.argv[6]) - runs
    diff = collections.Counter({k: b[k] - a.get(k, 0) for k in b})
    print(f"per operation over {runs} operations (difference of two runs):", sum(diff.values()) / runs)
    a = diff
else:
    print("total instructions (kernel+user 0x400000..):", sum(a.values()))
for name, c in a.most_common(50):
    print(f"{c:10d} {c/runs:9.1f}  {name}")
if DETAIL:
    logs = list(blocks)
    det = blocks[logs[-1]]
    if len(logs) > 1:
        det = collections.Counter({k: v - blocks[logs[0]].get(k, 0) for k, v in det.items()})
    rows = [(k, v) for k, v in det.items() if v / runs >= 1]
    pcs = [hex(k[1]) for k, _ in rows]
    lines = subprocess.run(['addr2line', '-i', '-e', KERNEL] + pcs, capture_output=True, text=True).stdout if pcs else ''
    where = {}
    out = subprocess.run(['addr2line', '-e', KERNEL] + pcs, capture_output=True, text=True).stdout.splitlines() if pcs else []
    for (k, v), loc in zip(rows, out):
        where[k] = loc.split('/')[-1]
    print("blocks of", DETAIL)
    for k, v in sorted(rows, key=lambda r: r[0][1]):
        print(f"{v/runs:8.1f}  {k[1]:#x} ({k[2]:3d} insns)  {where.get(k, '')}  {k[0]}")
