#!/usr/bin/env bash
# The Unix-level benchmarks (make bench): unix-tests/bench/unix-bench.c,
# built with musl-gcc -static, run as the first process of a Unix boot
# under -icount shift=0 (guest instructions), printing `bench ...` lines.
set -uo pipefail
root=build/unix-bench
rm -rf "$root" && mkdir -p "$root/root/bench" "$root/root/etc"
musl-gcc -static -O2 -Wall -o "$root/root/bench/unix-bench" unix-tests/bench/unix-bench.c || exit 1
musl-gcc -static -O2 -o "$root/root/bench/true" unix-tests/bench/true.c || exit 1
printf '/bench/unix-bench mach' > "$root/root/etc/guest-cmd"
env -u GUEST_CMD make --no-print-directory guest-iso ROOTFS_EXTRA="$root/root" >/dev/null || exit 1
QEMU_FLAGS="${QEMU_FLAGS} -icount shift=0" GUEST_TIMEOUT=600 scripts/guest.sh build/mach-guest.iso | tr -d '\r' | tee "$root/bench.log" | grep '^bench '
grep -q '^bench unix.getpid.trampoline ' "$root/bench.log"
