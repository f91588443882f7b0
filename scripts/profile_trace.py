#!/usr/bin/env python3
"""Attributes guest instructions to functions from QEMU `-d exec,nochain,in_asm`
logs: every instruction of a translated block (from in_asm) counts once per
execution of the block (from exec), and is charged to the innermost function
of its inline chain (`llvm-symbolizer -i`, or `addr2line -i -f -C`, on the
kernel's or the program's ELF, whose DWARF records what LLVM inlined
where). Under fat LTO most of the kernel is inlined into a few out-of-line
symbols (`syscall_dispatch`), so a per-symbol view says little; the inline
view names the source function.

Usage:
  scripts/profile_trace.py KERNEL_ELF USER_ELF LOG_A RUNS_A [LOG_B RUNS_B]
  scripts/profile_trace.py --dfilter KERNEL_ELF USER_ELF
      prints a QEMU `-dfilter` argument: the executable segments of both ELF
      files (the kernel's high-half text and the program's text), so the
      trace leaves out the BIOS, GRUB and the kernel's 32-bit boot code.

With one log, prints each function's instructions over the whole run divided
by RUNS_A (boot included). With two logs of the same program doing RUNS_A and
RUNS_B operations, prints the difference divided by RUNS_B - RUNS_A: the cost
of one operation, with boot and set-up cancelled out.

Environment:
  DETAIL=substring  also list the translated blocks whose instructions fall in
                    functions whose innermost name contains it, with source lines
  CHAIN=1           group by the whole inline chain (innermost <- ... <- symbol)
                    instead of by the innermost function
  TOP=n             rows per table (default 30)

A bare function name (DWARF names inlined functions without their path) is
followed by the source file of the instruction's line: `get<..> (idmap.rs)`.
`syscall_dispatch (atomic.rs)` is code of atomic.rs whose inline scope LLVM
did not keep, so it is charged to the function it sits in.

Every program is linked at 4 MiB, so the bootstrap task's and the default
pager's code share the program's addresses; they are idle while the traced
operations run, and their boot work cancels out in the difference.
"""
import bisect
import collections
import os
import pickle
import re
import signal
import subprocess
import sys

signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # quiet under `| head`

KERNEL_BASE = 0xFFFF800000000000


def exec_segments(path, higher_half):
    """(start, size) of the executable PT_LOAD segments of an ELF file; with
    `higher_half`, only those of the kernel's higher half (not its
    identity-mapped 32-bit boot segment)."""
    out = subprocess.run(['readelf', '-lW', path], capture_output=True, text=True, check=True).stdout
    segs = []
    for line in out.splitlines():
        p = line.split()
        if len(p) >= 8 and p[0] == 'LOAD' and 'E' in ''.join(p[6:-1]):
            start, size = int(p[2], 16), int(p[5], 16)
            if higher_half and start < KERNEL_BASE:
                continue
            segs.append((start, size))
    return segs


if len(sys.argv) > 1 and sys.argv[1] == '--dfilter':
    ranges = exec_segments(sys.argv[2], True) + exec_segments(sys.argv[3], False)
    print(','.join(f'{s:#x}+{n:#x}' for s, n in ranges))
    sys.exit(0)


def parse(log):
    """Executions per translated-block start, and the instruction addresses of
    each block (cached next to the log as LOG.v2.pkl)."""
    cache = log + '.v2.pkl'
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
    insns = []
    with open(log, 'r', errors='replace') as f:
        for line in f:
            if line.startswith('IN:'):
                if cur is not None:
                    tb[cur] = insns
                cur = None
                insns = []
                continue
            if line.startswith('0x'):
                colon = line.find(':')
                rest = line[colon + 1:].strip()
                if len(re.split(r'\s{2,}', rest)) < 2:
                    continue  # continuation of a long instruction's bytes
                pc = int(line[2:colon], 16)
                if cur is None:
                    cur = pc
                insns.append(pc)
                continue
            if line.startswith('Trace'):
                if cur is not None:
                    tb[cur] = insns
                    cur = None
                m = line.find('[')
                parts = line[m + 1:].split('/')
                execs[int(parts[1], 16)] += 1
    if cur is not None:
        tb[cur] = insns
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


def symbol(pc):
    i = bisect.bisect_right(addrs, pc) - 1
    return allsyms[i][1] if i >= 0 else '?'


def short(name):
    """Drops the legacy-mangling hash, generic arguments and closure noise
    from a demangled name."""
    name = re.sub(r'::h[0-9a-f]{16}$', '', name)
    for esc, ch in (('_$LT$', '<'), ('$LT$', '<'), ('$GT$', '>'), ('$u20$', ' '), ('$RF$', '&'),
                    ('$C$', ','), ('$BP$', '*'), ('$u7b$', '{'), ('$u7d$', '}'), ('..', '::')):
        name = name.replace(esc, ch)
    name = re.sub(r'::\{\{closure\}\}', '{closure}', name)
    out, depth = [], 0
    for ch in name:
        if ch == '<':
            depth += 1
            if depth == 1:
                out.append('<..>')
            continue
        if ch == '>' and depth:
            depth -= 1
            continue
        if not depth:
            out.append(ch)
    s = ''.join(out)
    return s.replace('<..><..>', '<..>')


def symbolizer():
    """llvm-symbolizer when there is one: binutils' addr2line (2.40) sometimes
    prints the out-of-line symbol's name for the innermost inlined frame."""
    import shutil
    if shutil.which('llvm-symbolizer'):
        return ['llvm-symbolizer', '--output-style=GNU', '-a', '-i', '-f', '-C', '--obj']
    print("profile_trace: no llvm-symbolizer (package llvm); using addr2line, whose innermost "
          "names can be the enclosing symbol's", file=sys.stderr)
    return ['addr2line', '-a', '-i', '-f', '-C', '-e']


SYMBOLIZER = symbolizer()


def inline_chains(elf, pcs):
    """pc -> [(function, file:line), ...], innermost first (addr2line -i)."""
    if not pcs:
        return {}
    inp = ''.join(f'{pc:#x}\n' for pc in pcs)
    out = subprocess.run(SYMBOLIZER + [elf], input=inp, capture_output=True, text=True).stdout.splitlines()
    chains, cur, i = {}, None, 0
    while i < len(out):
        line = out[i]
        if line.startswith('0x') and re.fullmatch(r'0x[0-9a-f]+', line):
            cur = int(line, 16)
            chains[cur] = []
            i += 1
            continue
        fn = line
        loc = out[i + 1] if i + 1 < len(out) else '??:0'
        if cur is not None:
            chains[cur].append((fn, loc))
        i += 2
    return chains


def resolve(all_pcs):
    k = sorted(pc for pc in all_pcs if pc >= KERNEL_BASE)
    u = sorted(pc for pc in all_pcs if pc < KERNEL_BASE)
    chains = inline_chains(KERNEL, k)
    chains.update(inline_chains(USER, u))
    return chains


def location(loc):
    loc = loc.split(' (discriminator')[0]
    return loc.split('/')[-1]


DETAIL = os.environ.get('DETAIL')
CHAIN = os.environ.get('CHAIN') == '1'
TOP = int(os.environ.get('TOP', '30'))

logs = [(sys.argv[3], int(sys.argv[4]))]
if len(sys.argv) > 6:
    logs.append((sys.argv[5], int(sys.argv[6])))
parsed = [parse(log) for log, _ in logs]

# Every instruction address that executed in either run.
pcs = set()
for tb, execs in parsed:
    for start in execs:
        pcs.update(tb.get(start, ()))
chains = resolve(pcs)


def frame_name(fn, loc):
    """A frame's function; DWARF gives inlined functions their bare name
    (`get`, `slot`), so those get the source file they are in."""
    name = short(fn)
    file = location(loc).split(':')[0]
    if '::' not in name and file != '??':
        name += f" ({file})"
    return name


def key_of(pc):
    ch = chains.get(pc)
    if not ch or ch[0][0] == '??':
        return short(symbol(pc))
    if CHAIN:
        return ' <- '.join(frame_name(f, l) for f, l in ch)
    return frame_name(*ch[0])


def is_library(loc):
    return '/rustc/' in loc or '/.cargo/registry/' in loc or loc.startswith('??')


def project_key_of(pc):
    """The innermost frame of this repository's code (library frames such as
    core's atomics or Option methods are charged to their caller)."""
    ch = chains.get(pc)
    if not ch or ch[0][0] == '??':
        return short(symbol(pc))
    for f, l in ch:
        if not is_library(l):
            return frame_name(f, l)
    return frame_name(*ch[-1])


keys = {pc: key_of(pc) for pc in pcs}
project_keys = {pc: project_key_of(pc) for pc in pcs}


def count(tb, execs):
    by_fn = collections.Counter()
    by_project = collections.Counter()
    by_sym = collections.Counter()
    by_block = collections.Counter()
    by_side = collections.Counter()
    for start, n in execs.items():
        ins = tb.get(start, ())
        by_sym[short(symbol(start))] += len(ins) * n
        by_side['kernel' if start >= KERNEL_BASE else 'program'] += len(ins) * n
        for pc in ins:
            k = keys[pc]
            by_fn[k] += n
            by_project[project_keys[pc]] += n
            if DETAIL and DETAIL in k:
                by_block[(start, k)] += n
    return by_fn, by_project, by_sym, by_block, by_side


counts = [count(tb, execs) for tb, execs in parsed]
runs = logs[0][1]
if len(counts) > 1:
    runs = logs[1][1] - logs[0][1]
    a, b = counts
    fn, proj, sym, blk, side = (collections.Counter({k: v - x.get(k, 0) for k, v in y.items()}) for x, y in zip(a, b))
    print(f"per operation over {runs} operations (difference of two runs): {sum(fn.values()) / runs:.1f}"
          f" (kernel {side['kernel'] / runs:.1f}, program {side['program'] / runs:.1f})")
else:
    fn, proj, sym, blk, side = counts[0]
    print(f"total instructions (kernel and program text): {sum(fn.values())}"
          f" (kernel {side['kernel']}, program {side['program']})")

width = 150 if CHAIN else 110
print(f"\nby {'inline chain' if CHAIN else 'innermost (source) function'}:")
for name, c in fn.most_common(TOP):
    print(f"{c:10d} {c / runs:9.1f}  {name[:width]}")
if not CHAIN:
    print("\nby innermost function of this repository (library frames charged to their caller):")
    for name, c in proj.most_common(TOP):
        print(f"{c:10d} {c / runs:9.1f}  {name[:width]}")
print("\nby out-of-line symbol (what fat LTO left as functions):")
for name, c in sym.most_common(min(TOP, 15)):
    print(f"{c:10d} {c / runs:9.1f}  {name[:width]}")

if DETAIL:
    print(f"\ninstructions of blocks in functions matching {DETAIL!r} (per operation, first source line):")
    rows = [(k, v) for k, v in blk.items() if v / runs >= 1]
    for (start, k), v in sorted(rows, key=lambda r: r[0][0]):
        tb = parsed[-1][0]
        ins = [pc for pc in tb.get(start, ()) if keys[pc] == k]
        ch = chains.get(ins[0]) if ins else None
        where = location(ch[0][1]) if ch else ''
        outer = ' <- '.join(frame_name(f, l) for f, l in ch[1:3]) if ch and len(ch) > 1 else ''
        print(f"{v / runs:8.1f}  {start:#x} ({len(ins):3d} insns)  {where}  {k[:60]}  {('<- ' + outer)[:80] if outer else ''}")
