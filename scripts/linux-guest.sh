#!/usr/bin/env bash
# Fetch what bench-net's Linux guest needs (the fair peer: the same server in
# a Linux VM under the same QEMU): Debian's current kernel (linux-image-amd64)
# and its virtio-net modules, into DIR (default target/linux-guest):
#   DIR/vmlinuz  DIR/modules/{virtio,virtio_ring,...,virtio_net}.ko
# Uses apt-get download (no root needed, nothing is installed).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="${1:-$root/target/linux-guest}"
pkg="$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')"
[[ -n "$pkg" ]] || { echo "linux-guest: no linux-image-amd64 package known to apt" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download -q "$pkg" >/dev/null)
dpkg-deb -x "$work"/*.deb "$work/x"
mkdir -p "$dir/modules"
cp "$work"/x/boot/vmlinuz-* "$dir/vmlinuz"
for m in virtio virtio_ring virtio_mmio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci failover net_failover virtio_net; do
    ko="$(find "$work/x/lib/modules" -name "$m.ko" -o -name "$m.ko.xz" | head -1)"
    [[ -n "$ko" ]] || { echo "linux-guest: $m.ko is not in $pkg" >&2; exit 1; }
    case "$ko" in
        *.xz) xz -dc "$ko" > "$dir/modules/$m.ko" ;;
        *) cp "$ko" "$dir/modules/$m.ko" ;;
    esac
done
echo "linux-guest: $pkg in $dir"
