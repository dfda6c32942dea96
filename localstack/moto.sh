#!/usr/bin/env bash
# Start a local AWS emulator (moto server) with no Docker.
#
#   localstack/moto.sh install        create the venv with the pinned moto (idempotent)
#   localstack/moto.sh start [PORT]   install if needed, then run moto in the foreground
#   localstack/moto.sh reset [PORT]   clear all emulator state
#
# The venv lives outside the clone so repeated runs reuse it; override with CAIRN_MOTO_VENV.
set -euo pipefail

MOTO_VERSION="5.2.5"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${CAIRN_MOTO_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/cairn/moto-venv-$MOTO_VERSION}"
PYTHON="${PYTHON:-python3}"

install() {
  if [ -x "$VENV/bin/moto_server" ] && "$VENV/bin/python" -c "import moto,cbor2,sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
    return 0
  fi
  echo "cairn: installing moto[server]==$MOTO_VERSION into $VENV" >&2
  mkdir -p "$(dirname "$VENV")"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$HERE/requirements.txt"
}

case "${1:-start}" in
  install) install ;;
  start)
    install
    PORT="${2:-4566}"
    export MOTO_IAM_LOAD_MANAGED_POLICIES="${MOTO_IAM_LOAD_MANAGED_POLICIES:-true}"
    # moto issues a DNS-validated ACM certificate once it is this many seconds old (default 60):
    # short, so aws.acm.certificate_validation waits a moment, as against AWS, without slowing the tests.
    export MOTO_ACM_VALIDATION_WAIT="${MOTO_ACM_VALIDATION_WAIT:-1}"
    if [ -z "${CAIRN_PARENT_PID:-}" ]; then
      exec "$VENV/bin/python" "$HERE/moto_server.py" -H 127.0.0.1 -p "$PORT"
    fi
    # Started by a test harness: stop when the harness process is gone, so no emulator outlives its tests.
    "$VENV/bin/python" "$HERE/moto_server.py" -H 127.0.0.1 -p "$PORT" &
    MOTO_PID=$!
    trap 'kill $MOTO_PID 2>/dev/null' EXIT INT TERM
    while kill -0 "$CAIRN_PARENT_PID" 2>/dev/null && kill -0 "$MOTO_PID" 2>/dev/null; do sleep 1; done
    ;;
  reset)
    PORT="${2:-4566}"
    "${PYTHON}" -c "import urllib.request,sys; urllib.request.urlopen(urllib.request.Request('http://127.0.0.1:$PORT/moto-api/reset', method='POST'))"
    ;;
  *) echo "usage: $0 install | start [PORT] | reset [PORT]" >&2; exit 2 ;;
esac
