#!/usr/bin/env bash
# Build the samples and boot the Rust hello sample in its own VM.
# Extra arguments go to the program: ./scripts/demo.sh one two
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$HOME/.cargo/bin:$PATH"
./samples/build.sh
exec cargo run --release --quiet -p kiln -- run target/samples/hello-rust -- "$@"
