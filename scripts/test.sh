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
cargo test -p mach-abi -p mach-core -p harness ${filter:+-- "$filter"} 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
if [ "$rc" -ne 0 ] && ! grep -q '^test result: FAILED' "$log"; then
    # cargo test failed before reporting (a build error): count it as a failure.
    echo "test result: FAILED. 0 passed; 1 failed; 0 ignored (cargo test exited with $rc)" >> "$log"
fi

echo "== in-QEMU tests"
exec "$harness" test --kernel "$kernel" --timeout "${TEST_TIMEOUT:-300}" \
    --log build/test-serial.log --host-log "$log" ${filter:+--filter "$filter"} -- \
    ${QEMU:-qemu-system-x86_64} ${QEMU_FLAGS} -cdrom "$iso"
