#!/usr/bin/env bash
# Oxigraph (npm "oxigraph", pinned in package.json) behind the SPARQL 1.1
# Protocol shim server.mjs, on 127.0.0.1, for streamkit's sink integration tests.
# The store is in memory:
# stop loses everything, start begins empty. Updates are atomic per request.
#
# Environment: OXIGRAPH_PORT (default 7878), OXIGRAPH_RUN (pid and log
# directory, default scripts/oxigraph/run), OXIGRAPH_DUMP (optional N-Quads
# file: stop writes the store there and start loads it back, so that the data
# survives a clean restart; store outage tests use it).
#
# Usage: run.sh setup | start | stop | env
#   setup   install the pinned npm packages into this directory (npm ci when a
#           package-lock.json is present, npm install otherwise)
#   start   start the shim in the background, wait until it answers (idempotent)
#   stop    stop the shim started by start
#   env     print the export line that enables the Oxigraph tests
set -euo pipefail
DIR=$(cd "$(dirname "$0")" && pwd)
PORT=${OXIGRAPH_PORT:-7878}
RUN=${OXIGRAPH_RUN:-$DIR/run}
PIDF=$RUN/server.pid
URL=http://127.0.0.1:$PORT/sparql

running() { [ -f "$PIDF" ] && kill -0 "$(cat "$PIDF")" 2>/dev/null; }

setup() {
  cd "$DIR"
  if [ -f package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
  else
    npm install --no-audit --no-fund --loglevel=error
  fi
}

start() {
  if running; then echo "oxigraph shim already running at $URL"; return 0; fi
  [ -d "$DIR/node_modules/oxigraph" ] || { echo "oxigraph not installed: run $0 setup" >&2; return 1; }
  if curl -fsS -o /dev/null "http://127.0.0.1:$PORT/sparql?query=ASK%7B%7D" 2>/dev/null; then
    echo "port $PORT already answers SPARQL (another instance?): set OXIGRAPH_PORT or stop it" >&2; return 1
  fi
  mkdir -p "$RUN"
  (cd "$DIR"; PORT=$PORT DUMP_FILE=${OXIGRAPH_DUMP:-} nohup node server.mjs >"$RUN/server.log" 2>&1 & echo $! >"$PIDF")
  for i in $(seq 1 200); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$PORT/sparql?query=ASK%7B%7D" 2>/dev/null; then
      echo "oxigraph shim up at $URL after ~$((i/10)).$((i%10)) s"; return 0
    fi
    if ! running; then break; fi
    sleep 0.1
  done
  echo "oxigraph shim did not come up" >&2; tail -n 30 "$RUN/server.log" >&2 || true; return 1
}

stop() {
  if running; then
    pid=$(cat "$PIDF"); kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$PIDF"
}

env() { echo "export STREAMKIT_OXIGRAPH_URL=$URL"; }

case "${1:-}" in
  setup|start|stop|env) "$1" ;;
  *) echo "usage: $0 setup|start|stop|env" >&2; exit 2 ;;
esac
