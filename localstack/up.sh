#!/usr/bin/env bash
# Starts moto on :4566 in the background (no Docker), waits until it answers, and prints the export line.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PORT="${1:-4566}"
if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/moto-api/')" 2>/dev/null; then
  echo "export AWS_ENDPOINT_URL=http://127.0.0.1:$PORT AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1"
  exit 0
fi
bash "$HERE/moto.sh" install
nohup bash "$HERE/moto.sh" start "$PORT" > "${TMPDIR:-/tmp}/cairn-moto-$PORT.log" 2>&1 &
for _ in $(seq 1 100); do
  if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/moto-api/')" 2>/dev/null; then
    echo "moto is running on http://127.0.0.1:$PORT (log: ${TMPDIR:-/tmp}/cairn-moto-$PORT.log)" >&2
    echo "export AWS_ENDPOINT_URL=http://127.0.0.1:$PORT AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1"
    exit 0
  fi
  sleep 0.3
done
echo "moto did not start; see ${TMPDIR:-/tmp}/cairn-moto-$PORT.log" >&2
exit 1
