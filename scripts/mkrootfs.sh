#!/usr/bin/env bash
# Builds the Unix server's root file system, a newc cpio archive (the
# initramfs format), from Debian's busybox-static with its applet links,
# /etc, /tmp and /dev, and the files of any EXTRA directories copied over it.
# Usage: scripts/mkrootfs.sh OUT.cpio [EXTRA_DIR...]
set -euo pipefail
out=$1
shift
busybox=${BUSYBOX:-/bin/busybox}
if ! file -L "$busybox" 2>/dev/null | grep -q 'statically linked'; then
    echo "mkrootfs: $busybox is not a static busybox (package busybox-static)" >&2
    exit 1
fi
stage=$(mktemp -d "${TMPDIR:-/tmp}/rootfs.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,dev,proc,root,home}
chmod 1777 "$stage/tmp"
cp "$busybox" "$stage/bin/busybox"
for applet in $("$busybox" --list-full); do
    [ "$applet" = bin/busybox ] && continue
    mkdir -p "$stage/$(dirname "$applet")"
    ln -sf /bin/busybox "$stage/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$stage/etc/passwd"
printf 'root:x:0:\n' > "$stage/etc/group"
printf 'mach\n' > "$stage/etc/hostname"
for extra in "$@"; do
    [ -d "$extra" ] && cp -a "$extra"/. "$stage"/
done
mkdir -p "$(dirname "$out")"
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet) > "$out.tmp"
mv "$out.tmp" "$out"
