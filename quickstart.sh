#!/usr/bin/env bash
# One command for a newcomer: builds cairn, starts a local AWS emulator (moto, no Docker),
# and applies the example stack to it. Nothing touches real AWS.
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cairn/target}"
cargo build --quiet
eval "$(bash localstack/up.sh 4566)"
CAIRN="$CARGO_TARGET_DIR/debug/cairn"
"$CAIRN" apply --stack examples/quickstart/stack.yaml --env dev --auto-approve
echo
echo "Applied. Try:  export AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1"
echo "               $CAIRN plan --stack examples/quickstart/stack.yaml --env dev --var visibility_timeout=90"
