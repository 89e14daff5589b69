#!/usr/bin/env bash
# Build the samples into OUT (default: <repo>/target/samples). Outputs that
# are newer than their sources are kept. Prints nothing on success unless
# something was built.
#   hello-rust      Rust, x86_64-unknown-linux-musl (static-PIE)
#   hello-c-musl    musl-gcc -static
#   hello-c-glibc   gcc -static (glibc)
#   hello-c-musl-dyn   musl-gcc, dynamically linked (musl's ld.so)
#   hello-c-glibc-dyn  gcc, dynamically linked PIE (glibc's ld.so)
#   exit-status     musl-gcc -static
#   crash           musl-gcc -static
#   wait            musl-gcc -static
#   fuzz            musl-gcc -static
#   memory          musl-gcc -static: big and sparse tmpfs files, ENOSPC, out of memory
#   fs-walk-c       musl-gcc -static (samples/fs-walk.c)
#   fs-walk-rust    Rust, x86_64-unknown-linux-musl (samples/fs-walk-rust)
#   http-poll       musl-gcc -static: poll() HTTP server (samples/http-poll.c)
#   pthreads        musl-gcc -static: threads, mutex, condition variables, TLS
#   signals         musl-gcc -static: handlers, sigaltstack, SIGSEGV recovery, timers
#   remap-glibc     gcc -static: mremap directly and through realloc
#   identity        musl-gcc -static: dropping root, session, children, mlockall
#   spin            musl-gcc -static: named CPU-bound functions for --profile
#   ifaddrs-musl    musl-gcc -static: getifaddrs, if_nameindex, SIOCGIF*, a fork
#   ifaddrs-glibc   gcc -static: the same through glibc's netlink code
#   http-rust       Rust (libc poll) HTTP server       } each its own workspace,
#   dns-rust        Rust UDP DNS server (zone file)     } x86_64-unknown-linux-musl
#   threads-rust    Rust std threads                   }
#   tokio-http      Rust tokio (crates.io) HTTP server }
#   go-http         Go net/http server       } CGO_ENABLED=0 go build -trimpath
#   go-goroutines   Go goroutines and timers } (Debian's golang-go)
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

cc_sample() { # cc_sample COMPILER SOURCE OUTPUT [EXTRA_FLAGS]
    if stale "$out/$3" "$here/$2" "$0"; then
        echo "samples: $1 -static -O2 ${4:-}$2 -> $3" >&2
        # shellcheck disable=SC2086 # EXTRA_FLAGS are words
        "$1" -static -O2 -Wall ${4:-} -o "$out/$3.tmp" "$here/$2"
        mv "$out/$3.tmp" "$out/$3"
    fi
}

cc_dyn_sample() { # cc_dyn_sample COMPILER SOURCE OUTPUT: dynamically linked
    if stale "$out/$3" "$here/$2" "$0"; then
        echo "samples: $1 -O2 $2 -> $3 (dynamic)" >&2
        "$1" -O2 -Wall -o "$out/$3.tmp" "$here/$2"
        mv "$out/$3.tmp" "$out/$3"
    fi
}

cc_sample musl-gcc hello-c.c hello-c-musl
cc_sample gcc hello-c.c hello-c-glibc
cc_dyn_sample musl-gcc hello-c.c hello-c-musl-dyn
cc_dyn_sample gcc hello-c.c hello-c-glibc-dyn
cc_sample musl-gcc exit-status.c exit-status
cc_sample musl-gcc crash.c crash "-g "
cc_sample musl-gcc wait.c wait
cc_sample musl-gcc fuzz.c fuzz
cc_sample musl-gcc memory.c memory
cc_sample musl-gcc fs-walk.c fs-walk-c
cc_sample musl-gcc http-poll.c http-poll
cc_sample musl-gcc pthreads.c pthreads
cc_sample musl-gcc signals.c signals
cc_sample gcc remap.c remap-glibc
cc_sample musl-gcc identity.c identity
cc_sample musl-gcc spin.c spin
cc_sample musl-gcc ifaddrs.c ifaddrs-musl
cc_sample gcc ifaddrs.c ifaddrs-glibc

rust_sample() { # rust_sample NAME: samples/NAME, its own workspace
    local name="$1"
    if stale "$out/$name" "$here/$name/src/main.rs" "$here/$name/Cargo.toml" "$here/$name/Cargo.lock"; then
        echo "samples: cargo build $name (x86_64-unknown-linux-musl)" >&2
        # Run from the sample's directory so the repo's rust-toolchain.toml applies,
        # and keep flags meant for the host build out of it.
        (cd "$here/$name" &&
            env -u RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS -u CARGO_TARGET_DIR -u CARGO_BUILD_TARGET \
                cargo build --quiet --release --target x86_64-unknown-linux-musl \
                --target-dir "$root/target/samples-cargo")
        cp "$root/target/samples-cargo/x86_64-unknown-linux-musl/release/$name" "$out/$name.tmp"
        mv "$out/$name.tmp" "$out/$name"
    fi
}

rust_sample hello-rust
rust_sample fs-walk-rust
rust_sample http-rust
rust_sample dns-rust
rust_sample threads-rust
rust_sample tokio-http

go_sample() { # go_sample NAME: samples/NAME, a Go module using only the standard library
    local name="$1"
    if stale "$out/$name" "$here/$name/main.go" "$here/$name/go.mod"; then
        echo "samples: go build $name (CGO_ENABLED=0, static)" >&2
        (cd "$here/$name" &&
            env CGO_ENABLED=0 GOOS=linux GOARCH=amd64 GOFLAGS= \
                go build -trimpath -o "$out/$name.tmp" .)
        mv "$out/$name.tmp" "$out/$name"
    fi
}

go_sample go-http
go_sample go-goroutines
