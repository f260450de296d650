#!/usr/bin/env bash
# Minimal one-replica OpenStack Swift-All-In-One on 127.0.0.1 for streamkit's
# checkpoint tests.
#
# Everything lives under $SWIFT_ROOT (default /tmp/streamkit-swift): etc/
# (swift.conf, server confs, rings, the ports), srv/node/d1 (the single
# device), run/*.pid, log/*.log. Nothing in /etc is touched. Auth is tempauth,
# user test:tester, key testing, at http://127.0.0.1:$SWIFT_PORT/auth/v1.0.
# memcached must run before the proxy (tempauth keeps tokens in memcache;
# without it auth answers 503).
#
# Ports, fixed at setup and kept in etc/ports: SWIFT_PORT (proxy, default
# 8080), SWIFT_STORAGE_PORT (object; container and account on the next two;
# default 6200), SWIFT_MEMCACHED_PORT (11211). A second instance (a test
# that takes its own Swift down) sets all three and its own SWIFT_ROOT.
#
# Usage: swift-saio.sh setup | start | stop | status | stop-proxy | start-proxy | env
#   setup        write configs and rings (idempotent; skipped if already set up,
#                force with SWIFT_SAIO_FORCE=1)
#   start        start memcached and the four servers, wait until auth answers 200
#                (idempotent: running servers are left alone)
#   stop         stop everything started by start
#   stop-proxy   stop only the proxy (fault injection: clients see connection errors)
#   start-proxy  start only the proxy again and wait until auth answers 200
#   env          print the export lines for the streamkit tests and the swift CLI
set -euo pipefail
SWIFT_ROOT=${SWIFT_ROOT:-/tmp/streamkit-swift}
ETC=$SWIFT_ROOT/etc; DEV=$SWIFT_ROOT/srv/node; RUN=$SWIFT_ROOT/run; LOG=$SWIFT_ROOT/log
PROXY_PORT=${SWIFT_PORT:-8080}
OBJ_PORT=${SWIFT_STORAGE_PORT:-6200}
MC_PORT=${SWIFT_MEMCACHED_PORT:-11211}
# An instance that is set up keeps the ports it was set up with.
if [ "${1:-}" != setup ] && [ -f "$ETC/ports" ]; then . "$ETC/ports"; fi
CONT_PORT=$((OBJ_PORT + 1)); ACCT_PORT=$((OBJ_PORT + 2))
AUTH_URL=http://127.0.0.1:$PROXY_PORT/auth/v1.0
SELF=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")

setup() {
  if [ -f "$ETC/object.ring.gz" ] && [ -z "${SWIFT_SAIO_FORCE:-}" ]; then
    echo "swift already set up under $SWIFT_ROOT"; return 0
  fi
  if running proxy || running object; then
    echo "swift is running under $SWIFT_ROOT; stop it before a forced setup" >&2; return 1
  fi
  rm -rf "$ETC" "$SWIFT_ROOT/srv" "$RUN" "$LOG"
  mkdir -p "$ETC" "$DEV/d1" "$RUN" "$LOG"
  printf 'PROXY_PORT=%s\nOBJ_PORT=%s\nMC_PORT=%s\n' "$PROXY_PORT" "$OBJ_PORT" "$MC_PORT" > "$ETC/ports"

  cat > "$ETC/swift.conf" <<CONF
[swift-hash]
swift_hash_path_prefix = saioprefix
swift_hash_path_suffix = saiosuffix

[storage-policy:0]
name = Policy-0
default = yes
CONF

  for s in account:$ACCT_PORT container:$CONT_PORT object:$OBJ_PORT; do
    name=${s%%:*}; port=${s##*:}
    cat > "$ETC/$name-server.conf" <<CONF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $port
workers = 1
user = root
swift_dir = $ETC
devices = $DEV
mount_check = false
log_level = INFO

[pipeline:main]
pipeline = healthcheck $name-server

[app:$name-server]
use = egg:swift#$name

[filter:healthcheck]
use = egg:swift#healthcheck
CONF
  done

  cat > "$ETC/proxy-server.conf" <<CONF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $PROXY_PORT
workers = 1
user = root
swift_dir = $ETC
log_level = INFO

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk tempurl tempauth copy slo dlo versioned_writes symlink proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
allow_account_management = true

[filter:tempauth]
use = egg:swift#tempauth
user_admin_admin = admin .admin .reseller_admin
user_test_tester = testing .admin
user_test2_tester2 = testing2 .admin
user_test_tester3 = testing3

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$MC_PORT

[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:bulk]
use = egg:swift#bulk
[filter:tempurl]
use = egg:swift#tempurl
[filter:copy]
use = egg:swift#copy
[filter:slo]
use = egg:swift#slo
[filter:dlo]
use = egg:swift#dlo
[filter:versioned_writes]
use = egg:swift#versioned_writes
allow_versioned_writes = true
[filter:symlink]
use = egg:swift#symlink
CONF

  (
    cd "$ETC"
    # part_power=10, replicas=1, min_part_hours=1; one device per ring
    for r in account:$ACCT_PORT container:$CONT_PORT object:$OBJ_PORT; do
      name=${r%%:*}; port=${r##*:}
      swift-ring-builder "$name.builder" create 10 1 1 >/dev/null
      swift-ring-builder "$name.builder" add "r1z1-127.0.0.1:$port/d1" 1 >/dev/null
      swift-ring-builder "$name.builder" rebalance >/dev/null
    done
  )
  echo "swift set up under $SWIFT_ROOT"
}

# running NAME: the pid file names a live process.
running() {
  local f="$RUN/$1.pid"
  [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null
}

start_server() {
  local s=$1
  if running "$s"; then return 0; fi
  nohup "swift-$s-server" "$ETC/$s-server.conf" -v >>"$LOG/$s.log" 2>&1 &
  echo $! > "$RUN/$s.pid"
}

healthy() {
  curl -fsS -o /dev/null "http://127.0.0.1:$1/healthcheck" 2>/dev/null
}

auth_ok() {
  [ "$(curl -s -o /dev/null -w '%{http_code}' -H 'X-Auth-User: test:tester' -H 'X-Auth-Key: testing' "$AUTH_URL" 2>/dev/null)" = 200 ]
}

wait_up() {
  local t0=$SECONDS
  while [ $((SECONDS - t0)) -lt 60 ]; do
    if healthy "$PROXY_PORT" && healthy "$OBJ_PORT" && healthy "$CONT_PORT" && healthy "$ACCT_PORT" && auth_ok; then
      echo "swift up (auth 200) after ~$((SECONDS - t0)) s"; return 0
    fi
    sleep 0.1
  done
  echo "swift did not come up within 60 s; logs in $LOG" >&2
  tail -n 20 "$LOG"/*.log >&2 || true
  return 1
}

start() {
  [ -f "$ETC/object.ring.gz" ] || { echo "swift not set up under $SWIFT_ROOT; run setup first" >&2; return 1; }
  mkdir -p "$RUN" "$LOG"
  # Swift binds with SO_REUSEPORT: a second instance on the same ports would
  # start "fine" and share the traffic with the first. Refuse instead.
  local p
  for p in "$PROXY_PORT" "$OBJ_PORT" "$CONT_PORT" "$ACCT_PORT"; do
    if ! running proxy && ! running object && (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "port $p already answers (another swift?): choose SWIFT_PORT / SWIFT_STORAGE_PORT" >&2; return 1
    fi
  done
  if ! running memcached; then
    memcached -u root -l 127.0.0.1 -p "$MC_PORT" -m 64 -P "$RUN/memcached.pid" -d
    for _ in $(seq 1 50); do [ -s "$RUN/memcached.pid" ] && break; sleep 0.1; done
  fi
  for s in object container account proxy; do start_server "$s"; done
  wait_up
}

stop_one() {
  local f="$RUN/$1.pid" pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$f"
}

stop() {
  for s in proxy account container object memcached; do stop_one "$s"; done
  echo "swift stopped"
}

stop-proxy() {
  # An outage, not a graceful stop: a stopped proxy's worker goes on serving
  # its open keep-alive connections until they close, so clients holding one
  # would never see the outage. Kill the server and its workers at once.
  local f="$RUN/proxy.pid" pid
  if [ -f "$f" ]; then
    pid=$(cat "$f")
    for child in $(pgrep -P "$pid" 2>/dev/null); do kill -KILL "$child" 2>/dev/null || true; done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$f"
  fi
  # Any proxy process left under this root (a worker whose parent died).
  pkill -KILL -f "swift-proxy-server $ETC/proxy-server.conf" 2>/dev/null || true
  # wait until the port is really closed so clients see connection errors
  for _ in $(seq 1 100); do healthy "$PROXY_PORT" || break; sleep 0.1; done
  if healthy "$PROXY_PORT"; then
    echo "swift proxy still answers on $PROXY_PORT after being killed" >&2
    return 1
  fi
  echo "swift proxy stopped"
}

start-proxy() {
  start_server proxy
  wait_up
}

status() {
  for s in memcached object container account proxy; do
    if running "$s"; then echo "$s: running"; else echo "$s: stopped"; fi
  done
  if auth_ok; then echo "auth: 200"; else echo "auth: not answering"; fi
}

env() {
  cat <<ENV
export STREAMKIT_SWIFT_AUTH_URL=$AUTH_URL
export STREAMKIT_SWIFT_USER=test:tester
export STREAMKIT_SWIFT_KEY=testing
export STREAMKIT_SWIFT_SAIO=$SELF
export SWIFT_ROOT=$SWIFT_ROOT
export ST_AUTH=$AUTH_URL ST_USER=test:tester ST_KEY=testing
ENV
}

case "${1:-}" in
  setup|start|stop|status|stop-proxy|start-proxy|env) "$1" ;;
  *) echo "usage: $0 setup|start|stop|status|stop-proxy|start-proxy|env" >&2; exit 2 ;;
esac
