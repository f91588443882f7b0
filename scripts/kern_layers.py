#!/usr/bin/env python3
"""Checks the layering of mach-kernel/src/kern (see kern/mod.rs).

Reads every module's `use`/path references to other `kern` modules (through
`crate::kern::`, `super::` and `self::`), then checks that each reference
goes to a module of the same or a lower layer and that the module graph has
no circle but the one kern/mod.rs argues (task <-> thread, type-only).
Prints `test kern_layers ... ok` or `... FAILED: reason`; `-v` prints the graph.
"""
import os
import re
import sys

KERN = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'mach-kernel', 'src', 'kern')

# The layers of kern/mod.rs (a module not listed here is a failure).
LAYERS = {
    'prof': 0,
    'thread': 1, 'task': 1, 'sched': 1, 'wait': 1, 'waitq': 1, 'clock': 1,
    'ipc::thread_state': 1, 'vm::task_vm': 1,
    'vm': 2, 'vm::copy': 2, 'vm::pageout': 2,
    'ipc': 3, 'pager': 3, 'exception': 3, 'device': 3,
    'lifecycle': 4, 'state': 4,
    'loader': 5, 'kobject': 5,
    'entry': 6,
    'mod': 6,
}
ALLOWED_CIRCLES = [{'task', 'thread'}]


def modules():
    out = {}
    for dp, _, fns in os.walk(KERN):
        for f in fns:
            if not f.endswith('.rs'):
                continue
            rel = os.path.relpath(os.path.join(dp, f), KERN)[:-3]
            if rel.endswith('/mod'):
                rel = rel[:-4]
            with open(os.path.join(dp, f)) as fh:
                out[rel.replace('/', '::')] = fh.read()
    return out


def layer_of(m):
    while m:
        if m in LAYERS:
            return LAYERS[m]
        m = m.rpartition('::')[0]
    return None


def graph(mods):
    names = set(mods)

    def resolve(path):
        parts = path.split('::')
        for i in range(len(parts), 0, -1):
            c = '::'.join(parts[:i])
            if c in names:
                return c
        return None

    edges = {m: set() for m in mods}
    for m, src in mods.items():
        src = re.sub(r'//[^\n]*', '', src)
        me = m.split('::')
        refs = []
        for prefix, base in (('crate::kern::', []), ('super::', me[:-1]), ('self::', me)):
            p = re.escape(prefix)
            for g in re.finditer(r'(?<![\w:])' + p + r'\{([^}]*)\}', src):
                refs += [base + it.strip().split(' ')[0].split('::') for it in g.group(1).split(',') if it.strip()]
            for g in re.finditer(r'(?<![\w:])' + p + r'((?:\w+::)*\w+)', src):
                refs.append(base + g.group(1).split('::'))
        for r in refs:
            t = resolve('::'.join(r))
            if t and t != m and not t.startswith(m + '::'):
                edges[m].add(t)
    return edges


def circles(edges):
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            c = set()
            while True:
                w = stack.pop()
                on.discard(w)
                c.add(w)
                if w == v:
                    break
            if len(c) > 1:
                out.append(c)

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def main():
    edges = graph(modules())
    if '-v' in sys.argv:
        for m in sorted(edges):
            print(f'{layer_of(m)} {m} -> {", ".join(sorted(edges[m]))}')
    problems = []
    for m, deps in sorted(edges.items()):
        lm = layer_of(m)
        if lm is None:
            problems.append(f'{m} has no layer (add it to scripts/kern_layers.py and kern/mod.rs)')
            continue
        for d in sorted(deps):
            ld = layer_of(d)
            if ld is not None and ld > lm:
                problems.append(f'{m} (layer {lm}) uses {d} (layer {ld})')
    for c in circles(edges):
        if c not in ALLOWED_CIRCLES:
            problems.append('import circle: ' + ' <-> '.join(sorted(c)))
    if problems:
        print('test kern_layers ... FAILED: ' + '; '.join(problems))
        return 1
    print('test kern_layers ... ok')
    return 0


if __name__ == '__main__':
    sys.exit(main())
