#!/usr/bin/env bash
# Build the samples and boot the C HTTP server (samples/http-poll.c) in its
# own VM, with host port 8080 forwarded to it (on 127.0.0.1 only).
#   ./scripts/demo.sh            # then: curl http://127.0.0.1:8080/
#   PORT=9090 ./scripts/demo.sh  # another host port
# Ctrl-C stops it (the program gets SIGTERM).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$HOME/.cargo/bin:$PATH"
port="${PORT:-8080}"
./samples/build.sh
cargo build --release --quiet -p kiln
echo "demo: booting http-poll; when it says 'listening', try:" >&2
echo "demo:   curl http://127.0.0.1:$port/        (and /big: 1 MiB)" >&2
echo "demo: Ctrl-C stops the VM" >&2
exec target/release/kiln run target/samples/http-poll -p "$port:8080" -- 8080
