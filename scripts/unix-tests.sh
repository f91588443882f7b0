#!/usr/bin/env bash
# The Unix system's tests: busybox shell scripts (unix-tests/scripts/*.sh)
# and C programs built with musl-gcc -static (unix-tests/c/*.c), run in one
# boot of the Unix server, each compared with what the same script (same
# busybox binary) or the same program prints on this host's Linux: the
# expected outputs are never written by hand. Prints `test unix_NAME ...
# ok|FAILED` per test, and the diff of a failure.
# Usage: scripts/unix-tests.sh   (run by make test after `make guest-iso`'s parts are built)
set -uo pipefail
root=build/unix-tests
rm -rf "$root" && mkdir -p "$root/root/tests/scripts" "$root/root/tests/bin" "$root/expected" "$root/got"
cp unix-tests/scripts/*.sh "$root/root/tests/scripts/"
for c in unix-tests/c/*.c; do
    name=$(basename "$c" .c)
    musl-gcc -static -O2 -Wall -o "$root/root/tests/bin/$name" "$c" || { echo "test unix_build_$name ... FAILED: musl-gcc"; }
done
# What the host says.
for t in "$root"/root/tests/scripts/*.sh; do
    name=$(basename "$t" .sh)
    (cd /tmp && /bin/busybox sh "$OLDPWD/$t" > "$OLDPWD/$root/expected/$name" 2>&1; echo "exit $?" >> "$OLDPWD/$root/expected/$name")
done
for b in "$root"/root/tests/bin/*; do
    name=$(basename "$b")
    (cd /tmp && "$OLDPWD/$b" > "$OLDPWD/$root/expected/$name" 2>&1; echo "exit $?" >> "$OLDPWD/$root/expected/$name")
done
# What the guest says, all tests in one boot.
cmd='cd /tmp; for t in /tests/scripts/*.sh /tests/bin/*; do n=${t##*/}; n=${n%.sh}; echo "@@@ begin $n"; case $t in *.sh) sh $t;; *) $t;; esac 2>&1; echo "exit $?"; echo "@@@ end $n"; done'
mkdir -p "$root/root/etc" && printf '%s' "$cmd" > "$root/root/etc/guest-cmd"
env -u GUEST_CMD make --no-print-directory guest-iso ROOTFS_EXTRA="$root/root" GUEST_KERNEL="${GUEST_KERNEL:-release}" >/dev/null || { echo "test unix_boot ... FAILED: guest ISO"; exit 1; }
GUEST_TIMEOUT=${UNIX_TEST_TIMEOUT:-600} scripts/guest.sh build/mach-guest.iso > "$root/guest.out" 2>&1
status=$?
tr -d '\r' < "$root/guest.out" | awk -v dir="$root/got" '
    /^@@@ begin / { name = $3; file = dir "/" name; printf "" > file; next }
    /^@@@ end /   { close(file); name = ""; next }
    name != ""    { print >> file }'
for e in "$root"/expected/*; do
    name=$(basename "$e")
    if [ ! -f "$root/got/$name" ]; then
        echo "test unix_$name ... FAILED: did not run (guest status $status)"
    elif diff -u "$e" "$root/got/$name" > "$root/$name.diff"; then
        echo "test unix_$name ... ok"
    else
        echo "test unix_$name ... FAILED: output differs from the host's"
        head -40 "$root/$name.diff"
    fi
done
# After every test program has ended, the server's tables are empty and
# the kernel's counts (ports, port sets, queued messages, VM objects) and
# the server's own port names are what they were before the first process
# (unix-server/src/census.rs prints the comparison at shutdown).
if grep -aq '^unix: baseline: ok' "$root/guest.out"; then echo "test unix_baseline ... ok"
else echo "test unix_baseline ... FAILED: $(grep -a '^unix: baseline' "$root/guest.out" || echo 'no baseline line')"; fi
# Hostile and exhausting programs (unix-tests/self/*.c) in a boot of their
# own, so that the calls they make answered ENOSYS stay out of the main
# boot's report: they check themselves (garbage to every call, a fork bomb,
# a memory hog) and print their own test lines; then the baseline again.
self=$root/self
mkdir -p "$self/root/tests/self" "$self/root/etc"
for c in unix-tests/self/*.c; do
    musl-gcc -static -O2 -Wall -o "$self/root/tests/self/$(basename "$c" .c)" "$c" || echo "test unix_build_$(basename "$c" .c) ... FAILED: musl-gcc"
done
printf '%s' 'cd /tmp; for t in /tests/self/*; do $t; done' > "$self/root/etc/guest-cmd"
env -u GUEST_CMD make --no-print-directory guest-iso ROOTFS_EXTRA="$self/root" GUEST_KERNEL="${GUEST_KERNEL:-release}" >/dev/null || echo "test unix_self_boot ... FAILED: guest ISO"
GUEST_TIMEOUT=${UNIX_TEST_TIMEOUT:-600} scripts/guest.sh build/mach-guest.iso > "$self/guest.out" 2>&1
self_status=$?
# (Not anchored: a shell's error prefix has been seen before a line; see
# the issue notes.)
tr -d '\r' < "$self/guest.out" | grep -ao 'test unix_.*'
# Each test line the programs print must have appeared (the memory hog
# runs only by hand: limits --hog).
for name in $(grep -oh 'test unix_[a-z_]*' unix-tests/self/*.c | sort -u | cut -d' ' -f2); do
    [ "$name" = unix_memory_hog ] && continue
    grep -aq "test $name \.\.\. " "$self/guest.out" || echo "test $name ... FAILED: did not run (guest status $self_status)"
done
if grep -aq '^unix: baseline: ok' "$self/guest.out"; then echo "test unix_self_baseline ... ok"
else echo "test unix_self_baseline ... FAILED: $(grep -a '^unix: baseline' "$self/guest.out" || echo 'no baseline line')"; fi
if [ "$self_status" != 0 ]; then echo "test unix_self_boot ... FAILED: guest exit $self_status"; tail -20 "$self/guest.out"; fi

# The console: a program reading it gets what is typed, a line at a time,
# and ^D ends it (typed into QEMU's stdin after the guest is up, with CR for
# Enter, as a terminal sends it); the host's answer is the same program
# reading the same line from a pipe.
con=$root/console
mkdir -p "$con/root/etc"
musl-gcc -static -O2 -o "$con/root/console-read" unix-tests/console-read.c
printf '/console-read' > "$con/root/etc/guest-cmd"
printf 'hello console\n' | "$con/root/console-read" > "$con/expected"
env -u GUEST_CMD make --no-print-directory guest-iso ROOTFS_EXTRA="$con/root" GUEST_KERNEL="${GUEST_KERNEL:-release}" >/dev/null
{ sleep "${CONSOLE_DELAY:-8}"; printf 'hello console\r'; sleep 2; printf '\004'; sleep 3; } \
    | timeout 120 ${QEMU:-qemu-system-x86_64} ${QEMU_FLAGS} -cdrom build/mach-guest.iso > "$con/serial.log" 2>&1
tr -d '\r' < "$con/serial.log" | grep -a -e '^read ' -e '^end ' -e '^\]' > "$con/got"
if diff -u "$con/expected" "$con/got" > "$con/diff"; then echo "test unix_console_read ... ok"
else echo "test unix_console_read ... FAILED: what the program read differs from the host's"; head -20 "$con/diff"; fi

if [ "$status" = 0 ]; then echo "test unix_boot ... ok"; else echo "test unix_boot ... FAILED: guest exit $status"; tail -20 "$root/guest.out"; fi
