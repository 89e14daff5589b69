#!/usr/bin/env bash
# Build the samples into OUT (default: <repo>/target/samples). Outputs that
# are newer than their sources are kept. Prints nothing on success unless
# something was built.
#   hello-rust      Rust, x86_64-unknown-linux-musl (static-PIE)
#   hello-c-musl    musl-gcc -static
#   hello-c-glibc   gcc -static (glibc)
#   exit-status     musl-gcc -static
#   crash           musl-gcc -static
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
out="${1:-$root/target/samples}"
mkdir -p "$out"

stale() { # stale OUTPUT SOURCE...
    local o="$1"; shift
    [[ ! -e "$o" ]] && return 0
    local s
    for s in "$@"; do [[ "$s" -nt "$o" ]] && return 0; done
    return 1
}

cc_sample() { # cc_sample COMPILER SOURCE OUTPUT
    if stale "$out/$3" "$here/$2" "$0"; then
        echo "samples: $1 -static -O2 $2 -> $3" >&2
        "$1" -static -O2 -Wall -o "$out/$3.tmp" "$here/$2"
        mv "$out/$3.tmp" "$out/$3"
    fi
}

cc_sample musl-gcc hello-c.c hello-c-musl
cc_sample gcc hello-c.c hello-c-glibc
cc_sample musl-gcc exit-status.c exit-status
cc_sample musl-gcc crash.c crash

if stale "$out/hello-rust" "$here/hello-rust/src/main.rs" "$here/hello-rust/Cargo.toml"; then
    echo "samples: cargo build hello-rust (x86_64-unknown-linux-musl)" >&2
    # Run from the sample's directory so the repo's rust-toolchain.toml applies,
    # and keep flags meant for the host build out of it.
    (cd "$here/hello-rust" &&
        env -u RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS -u CARGO_TARGET_DIR -u CARGO_BUILD_TARGET \
            cargo build --quiet --release --target x86_64-unknown-linux-musl \
            --target-dir "$root/target/samples-cargo")
    cp "$root/target/samples-cargo/x86_64-unknown-linux-musl/release/hello-rust" "$out/hello-rust.tmp"
    mv "$out/hello-rust.tmp" "$out/hello-rust"
fi
