#!/usr/bin/env bash
# `make guest CMD='...'`: boots the Unix system with `/bin/sh -c "$CMD"` as
# the first process, streams what the guest prints to stdout (the kernel's
# and the boot tasks' own lines left out unless GUEST_LOG=1), and exits with
# the command's status (128 + N for a signal). GUEST_TIMEOUT seconds (default
# 300) end a guest that hangs, with a message and status 124.
# Usage: scripts/guest.sh ISO   (CMD, GUEST_TIMEOUT, GUEST_LOG from the environment)
set -uo pipefail
iso=$1
timeout=${GUEST_TIMEOUT:-300}
log=build/guest-serial.log
if [ -z "${QEMU_FLAGS:-}" ]; then
    echo "guest.sh: QEMU_FLAGS is not set (run it through make: make guest, make unix-test)" >&2
    exit 2
fi
rm -f "$log"
timeout "$timeout" ${QEMU:-qemu-system-x86_64} ${QEMU_FLAGS} -cdrom "$iso" </dev/null > "$log" &
qemu=$!
# Stream the guest's lines as they come, until QEMU ends.
tail -n +1 -f --pid=$qemu "$log" 2>/dev/null | if [ -n "${GUEST_LOG:-}" ]; then cat; else
    grep -avE --line-buffered '^(\[(error|warn|info|debug|trace)\] |Mach kernel |mach: |bootstrap: |test (frames_reclaimed|ipc_audit_after_all_tasks|vm_copies_released) |boot: |unix: exit status )' ; fi
wait $qemu
code=$?
if [ "$code" = 124 ]; then
    echo "make guest: the guest did not finish within ${timeout} s (GUEST_TIMEOUT)" >&2
    exit 124
fi
status=$(grep -a '^unix: exit status ' "$log" | tail -1 | tr -d '\r' | awk '{print $4}')
if [ -z "$status" ]; then
    echo "make guest: the Unix server did not report an exit status (QEMU exit $code); see $log" >&2
    exit 125
fi
exit "$status"
