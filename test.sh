#!/usr/bin/env bash
# Runs every test: engine, state and resource unit tests, then the end-to-end suite
# against a moto server that the suite starts itself (set CAIRN_TEST_ENDPOINT to use
# a running LocalStack instead).
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cairn/target}"
cargo test --workspace --all-targets "$@"
