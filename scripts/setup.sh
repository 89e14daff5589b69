#!/usr/bin/env bash
# Install what Kiln needs on a Debian (or Ubuntu) machine, and only what is
# missing: QEMU, musl-tools, gcc with static glibc, Go (for the Go samples), GRUB, mtools,
# qemu-utils and OVMF (for self-booting disks), and Rust with the
# toolchain, targets and components that rust-toolchain.toml names.
# Safe to run again. Uses sudo only when not root.
#   --test-servers  also install the Debian servers and runtimes that the
#                   tests boot from the host (nginx-light, redis-server,
#                   dnsmasq-base, python3, nodejs) and gdb (the --gdb test),
#                   without starting them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

as_root() {
    if [[ "$(id -u)" -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

packages=(qemu-system-x86 musl-tools gcc libc6-dev golang-go curl ca-certificates)
# Self-booting disks (kiln build --bootable / --format, kiln run --bios/--uefi):
# GRUB's BIOS and UEFI images and grub-mkimage (grub-pc-bin and grub-efi-amd64-bin
# hold no boot-loader configuration and ask nothing), mtools for the EFI system
# partition, qemu-img for the cloud formats, OVMF for UEFI boots.
packages+=(grub-common grub-pc-bin grub-efi-amd64-bin mtools qemu-utils ovmf)
if [[ "${1:-}" == "--test-servers" ]]; then
    packages+=(nginx-light redis-server dnsmasq-base python3 nodejs gdb)
    # Installing a server package would start it (and bind its port):
    # forbid service starts, as Debian's policy-rc.d convention allows.
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
        as_root chmod +x /usr/sbin/policy-rc.d
    fi
fi
missing=()
for pkg in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done
if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}" >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v rustup >/dev/null 2>&1; then
    echo "setup: installing rustup" >&2
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs |
        sh -s -- -y --profile minimal --default-toolchain none --no-modify-path
fi
# The same list as rust-toolchain.toml (which makes cargo use this toolchain).
# An installed toolchain is kept as it is (no update); only what is missing is added.
if ! rustup run stable rustc --version >/dev/null 2>&1; then
    rustup toolchain install stable --profile minimal --component rustfmt,clippy
fi
rustup component add --toolchain stable rustfmt clippy 2>/dev/null
rustup target add --toolchain stable x86_64-unknown-none x86_64-unknown-linux-musl 2>/dev/null
echo "setup: ready ($(qemu-system-x86_64 --version | head -1); $(rustup run stable rustc --version))" >&2
