#!/usr/bin/env bash
# Installs what `make run` and `make test` need on a Debian/Ubuntu machine:
# QEMU, GRUB (BIOS modules), xorriso, mtools, musl-tools, cpio and
# busybox-static (the Unix server's root file system), binutils (nm,
# readelf, addr2line: backtraces and profiles) and the Rust target
# x86_64-unknown-none. `ensure-deps.sh profile` (run by `make profile`) also
# wants python3 and llvm-symbolizer (package llvm), which resolves inlined
# frames correctly; `ensure-deps.sh debug` (run by `make debug`) wants gdb.
# As root it installs them; otherwise it prints the command.
set -euo pipefail

missing=()
need() { command -v "$1" >/dev/null 2>&1 || missing+=("$2"); }
need qemu-system-x86_64 qemu-system-x86
need grub-mkrescue grub-common
[ -d /usr/lib/grub/i386-pc ] || missing+=(grub-pc-bin)
need xorriso xorriso
need mformat mtools
need musl-gcc musl-tools
need cpio cpio
# The Unix server's root file system carries Debian's static busybox.
[ -x /bin/busybox ] && file -L /bin/busybox 2>/dev/null | grep -q 'statically linked' || missing+=(busybox-static)
need file file
need addr2line binutils
need readelf binutils
need nm binutils
if [ "${1:-}" = profile ]; then
    need python3 python3
    need llvm-symbolizer llvm
fi
if [ "${1:-}" = debug ]; then
    need gdb gdb
fi

if [ ${#missing[@]} -gt 0 ]; then
    pkgs=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
    if [ "$(id -u)" = 0 ]; then
        echo "ensure-deps: installing $pkgs"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        # shellcheck disable=SC2086
        apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
    else
        echo "ensure-deps: missing packages; run as root:" >&2
        echo "  sudo apt-get update && sudo apt-get install -y $pkgs" >&2
        exit 1
    fi
fi

if ! command -v cargo >/dev/null 2>&1; then
    echo "ensure-deps: no Rust toolchain; install rustup (https://rustup.rs) and run again" >&2
    exit 1
fi
if ! rustup target list --installed 2>/dev/null | grep -qx x86_64-unknown-none; then
    echo "ensure-deps: adding Rust target x86_64-unknown-none"
    rustup target add x86_64-unknown-none
fi
