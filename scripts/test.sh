#!/usr/bin/env bash
# `make test`: host unit tests, then every test program in QEMU, counted by the
# harness, which prints `N passed, N failed` last and exits non-zero on any
# failure, timeout, kernel panic or triple fault.
# Usage: scripts/test.sh KERNEL_ELF TEST_ISO HARNESS [FILTER]
set -uo pipefail
kernel=$1 iso=$2 harness=$3 filter=${4:-}
mkdir -p build
log=build/host-tests.log

echo "== host unit tests"
cargo test -p mach-abi -p mach-core -p default-pager-core -p unix-abi -p unix-core -p harness -p mig -p mach-interfaces ${filter:+-- "$filter"} 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
if [ "$rc" -ne 0 ] && ! grep -q '^test result: FAILED' "$log"; then
    # cargo test failed before reporting (a build error): count it as a failure.
    echo "test result: FAILED. 0 passed; 1 failed; 0 ignored (cargo test exited with $rc)" >> "$log"
fi

echo "== kernel layers"
# kern/ calls only downwards and has no import circle but the one it argues
# (scripts/kern_layers.py, the layers of mach-kernel/src/kern/mod.rs).
if [ -z "$filter" ] || [[ "kern_layers" == *"$filter"* ]]; then
    if python3 scripts/kern_layers.py; then
        echo "test result: ok. 1 passed; 0 failed; 0 ignored (kern_layers)" >> "$log"
    else
        echo "test result: FAILED. 0 passed; 1 failed; 0 ignored (kern_layers)" >> "$log"
    fi
fi

echo "== kernel panic path"
# A kernel that panics (and one that faults in kernel mode) must print a
# backtrace whose addresses the harness turns into kernel function names, and
# end QEMU with the panic exit code 35.
for t in panic kernel_fault; do
    [ -n "$filter" ] && [[ "kernel_$t" != *"$filter"* ]] && continue
    out=build/selftest-$t.log
    timeout 60 ${QEMU:-qemu-system-x86_64} ${QEMU_FLAGS} -cdrom "build/mach-$t.iso" </dev/null \
        | "$harness" symbolize --kernel "$kernel" > "$out"
    code=${PIPESTATUS[0]}
    # The panic boot has `fuzztrace`: its report must end with the trap ring.
    if [ "$code" = 35 ] && grep -q '^KERNEL PANIC' "$out" && grep -Eq 'bt#[0-9]+ 0x[0-9a-f]+ <mach_kernel::' "$out" \
        && { [ "$t" != panic ] || grep -q '^fuzztrace: the last 0 of 0 traps' "$out"; }; then
        echo "test selftest_$t ... ok"
        echo "test result: ok. 1 passed; 0 failed; 0 ignored (selftest_$t)" >> "$log"
    else
        echo "test selftest_$t ... FAILED: exit $code, see $out"; cat "$out"
        echo "test result: FAILED. 0 passed; 1 failed; 0 ignored (selftest_$t)" >> "$log"
    fi
done

echo "== no disk"
# A boot without the IDE disk: the kernel must find no hd0, and device_open
# must say D_NO_SUCH_DEVICE (test-device nodisk). Its serial input is
# /dev/null: nothing arrives on the console, and nothing breaks
# (test-console nostdin).
if [ -z "$filter" ] || [[ "test-device" == *"$filter"* ]] || [[ "test-console" == *"$filter"* ]]; then
    out=build/nodisk.log
    nodisk_flags=$(sed -E 's/-drive [^ ]+//' <<< "${QEMU_FLAGS}")
    timeout 60 ${QEMU:-qemu-system-x86_64} ${nodisk_flags} -cdrom build/mach-nodisk.iso </dev/null > "$out"
    code=$?
    if [ "$code" = 33 ] && grep -q '^test device_open_without_disk ... ok' "$out" && ! grep -q 'FAILED' "$out"; then
        echo "test device_nodisk ... ok"
        echo "test result: ok. 1 passed; 0 failed; 0 ignored (device_nodisk)" >> "$log"
    else
        echo "test device_nodisk ... FAILED: exit $code, see $out"; cat "$out"
        echo "test result: FAILED. 0 passed; 1 failed; 0 ignored (device_nodisk)" >> "$log"
    fi
    if [ "$code" = 33 ] && grep -q '^test console_nostdin_nothing_arrives ... ok' "$out" \
        && grep -q '^test console_nostdin_audit ... ok' "$out" && ! grep -q 'FAILED' "$out"; then
        echo "test console_nostdin ... ok"
        echo "test result: ok. 1 passed; 0 failed; 0 ignored (console_nostdin)" >> "$log"
    else
        echo "test console_nostdin ... FAILED: exit $code, see $out"; cat "$out"
        echo "test result: FAILED. 0 passed; 1 failed; 0 ignored (console_nostdin)" >> "$log"
    fi
fi

echo "== default pager"
# The default pager and test-dpager in a boot of their own, on a fresh disk
# (test-device in the main boot must be hd0's only opener): every `test`
# line of that boot is counted here.
if [ -z "$filter" ] || [[ "test-dpager" == *"$filter"* ]]; then
    out=build/dpager.log
    rm -f "${DISK_IMG:-build/paging.img}" && truncate -s 4M "${DISK_IMG:-build/paging.img}"
    timeout 300 ${QEMU:-qemu-system-x86_64} ${QEMU_FLAGS} -cdrom build/mach-dpager.iso </dev/null > "$out"
    code=$?
    passed=$(grep -c '^test .* \.\.\. ok' "$out")
    failed=$(grep -c '^test .* \.\.\. FAILED' "$out")
    grep '^test ' "$out"
    if [ "$code" != 33 ] || ! grep -q '^test dpager_audit ... ok' "$out" || ! grep -q '^mach: all tasks finished' "$out"; then
        echo "test dpager_boot ... FAILED: exit $code, see $out"; cat "$out"
        failed=$((failed + 1))
    fi
    echo "test result: $([ "$failed" = 0 ] && echo ok || echo FAILED). $passed passed; $failed failed; 0 ignored (dpager boot)" >> "$log"
    rm -f "${DISK_IMG:-build/paging.img}" && truncate -s 4M "${DISK_IMG:-build/paging.img}"
fi

echo "== exhaustion"
# test-exhaust with only the bootstrap task, so the kernel's global counts
# are its own: every `test` line of that boot is counted here.
if [ -z "$filter" ] || [[ "test-exhaust" == *"$filter"* ]]; then
    out=build/exhaust.log
    timeout 300 ${QEMU:-qemu-system-x86_64} ${QEMU_FLAGS} -cdrom build/mach-exhaust.iso </dev/null > "$out"
    code=$?
    passed=$(grep -c '^test .* \.\.\. ok' "$out")
    failed=$(grep -c '^test .* \.\.\. FAILED' "$out")
    grep '^test ' "$out"
    if [ "$code" != 33 ] || ! grep -q '^test exhaustion_counts_back_at_baseline ... ok' "$out" || ! grep -q '^test heap_returned ... ok' "$out" || ! grep -q '^mach: all tasks finished' "$out"; then
        echo "test exhaust_boot ... FAILED: exit $code, see $out"; tail -40 "$out"
        failed=$((failed + 1))
    fi
    echo "test result: $([ "$failed" = 0 ] && echo ok || echo FAILED). $passed passed; $failed failed; 0 ignored (exhaust boot)" >> "$log"
fi

echo "== larger than memory"
# test-bigmem writes more anonymous memory than the machine has (QEMU with
# ${LOWMEM:-40M}) and reads it back, through the default pager and a fresh
# 64 MiB disk; every `test` line of that boot is counted here.
if [ -z "$filter" ] || [[ "test-bigmem" == *"$filter"* ]]; then
    out=build/lowmem.log
    disk=build/lowmem.img
    rm -f "$disk" && truncate -s 64M "$disk"
    lowmem_flags=$(sed -E "s/-m [^ ]+/-m ${LOWMEM:-40M}/; s|file=[^,]+|file=$disk|" <<< "${QEMU_FLAGS}")
    timeout 900 ${QEMU:-qemu-system-x86_64} ${lowmem_flags} -cdrom build/mach-lowmem.iso </dev/null > "$out"
    code=$?
    passed=$(grep -c '^test .* \.\.\. ok' "$out")
    failed=$(grep -c '^test .* \.\.\. FAILED' "$out")
    grep -E '^(test |bigmem: )' "$out"
    if [ "$code" != 33 ] || ! grep -q '^test bigmem_audit ... ok' "$out" || ! grep -q '^mach: all tasks finished' "$out"; then
        echo "test lowmem_boot ... FAILED: exit $code, see $out"; tail -40 "$out"
        failed=$((failed + 1))
    fi
    echo "test result: $([ "$failed" = 0 ] && echo ok || echo FAILED). $passed passed; $failed failed; 0 ignored (lowmem boot)" >> "$log"
    rm -f "$disk"
fi

echo "== fuzz"
# test-fuzz alone (iso/grub-fuzz.cfg: a fixed seed set, child tasks, a
# killer), so that the counts it checks after each seed are its own; the
# kernel records traps for a panic report (fuzztrace). Every `test` line of
# that boot is counted here.
if [ -z "$filter" ] || [[ "test-fuzz" == *"$filter"* ]]; then
    out=build/fuzz.log
    rm -f "${DISK_IMG:-build/paging.img}" && truncate -s 4M "${DISK_IMG:-build/paging.img}"
    timeout 300 ${QEMU:-qemu-system-x86_64} ${QEMU_FLAGS} -cdrom build/mach-fuzz.iso </dev/null \
        | "$harness" symbolize --kernel "$kernel" > "$out"
    code=${PIPESTATUS[0]}
    passed=$(grep -c '^test .* \.\.\. ok' "$out")
    failed=$(grep -c '^test .* \.\.\. FAILED' "$out")
    grep -aE '^(test |test-fuzz: .*(calls here|in all))' "$out"
    if [ "$code" != 33 ] || ! grep -q '^test fuzz_seed_' "$out" || ! grep -aq '^test-fuzz: .* calls in all' "$out" \
        || ! grep -q '^mach: all tasks finished' "$out"; then
        echo "test fuzz_boot ... FAILED: exit $code, see $out"; tail -80 "$out"
        failed=$((failed + 1))
    fi
    echo "test result: $([ "$failed" = 0 ] && echo ok || echo FAILED). $passed passed; $failed failed; 0 ignored (fuzz boot)" >> "$log"
    rm -f "${DISK_IMG:-build/paging.img}" && truncate -s 4M "${DISK_IMG:-build/paging.img}"
fi

echo "== unix"
# The Unix server running Debian's busybox and musl C programs, each test's
# output compared with the same script or program on this host
# (scripts/unix-tests.sh); every `test` line it prints is counted here.
if [ -z "$filter" ] || [[ "unix" == *"$filter"* ]]; then
    out=build/unix-tests.log
    GUEST_KERNEL=checked scripts/unix-tests.sh > "$out" 2>&1
    passed=$(grep -c '^test .* \.\.\. ok' "$out")
    failed=$(grep -c '^test .* \.\.\. FAILED' "$out")
    grep -A40 '^test ' "$out" | grep -v '^test .* \.\.\. ok' | head -200
    grep '^test .* \.\.\. ok' "$out"
    echo "test result: $([ "$failed" = 0 ] && echo ok || echo FAILED). $passed passed; $failed failed; 0 ignored (unix boot)" >> "$log"
fi

echo "== in-QEMU tests"
# The main boot's serial input is scripted (iso/grub-test.input: what
# test-console reads, written when it prints its markers).
exec "$harness" test --kernel "$kernel" --timeout "${TEST_TIMEOUT:-300}" \
    --log build/test-serial.log --host-log "$log" --input iso/grub-test.input -- \
    ${QEMU:-qemu-system-x86_64} ${QEMU_FLAGS} -cdrom "$iso"
