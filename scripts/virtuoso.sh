#!/usr/bin/env bash
# Throw-away Virtuoso 7 (Debian virtuoso-opensource) on 127.0.0.1 with its DB
# under $VIRT_ROOT, for streamkit's sink integration tests. Nothing in /etc or
# the packaged DB is touched. Install first (root):
#   apt-get install -y --no-install-recommends virtuoso-opensource
#
# Environment: VIRT_ROOT (default /tmp/streamkit-virtuoso), VIRT_SQLPORT (1111),
# VIRT_HTTPPORT (8890), VIRT_DBA_PW (dba, the package default).
#
# Usage: virtuoso.sh setup | start | grant | stop | env
#   setup  write a fresh DB directory and virtuoso.ini (erases $VIRT_ROOT/db)
#   start  start virtuoso-t in the background, wait until /sparql answers
#   grant  allow SPARQL 1.1 Update on the anonymous /sparql endpoint
#          (test instances on loopback only!)
#   stop   stop the server started by start (SIGTERM: quick shutdown)
#   env    print the export line that enables the Virtuoso tests
#
# Virtuoso does NOT apply a multi-operation update request atomically (only
# parse errors are all-or-nothing): the tests that need
# atomic requests run against Oxigraph only.
set -euo pipefail
VIRT_ROOT=${VIRT_ROOT:-/tmp/streamkit-virtuoso}
DB=$VIRT_ROOT/db; INI=$VIRT_ROOT/virtuoso.ini
SQLPORT=${VIRT_SQLPORT:-1111}; HTTPPORT=${VIRT_HTTPPORT:-8890}
DBA_PW=${VIRT_DBA_PW:-dba}
PIDF=$VIRT_ROOT/virtuoso.pid

running() { [ -f "$PIDF" ] && kill -0 "$(cat "$PIDF")" 2>/dev/null; }

setup() {
  if running; then echo "virtuoso is running under $VIRT_ROOT: stop it first" >&2; return 1; fi
  rm -rf "$DB"; mkdir -p "$DB"
  cat > "$INI" <<INI
[Database]
DatabaseFile       = $DB/virtuoso.db
ErrorLogFile       = $DB/virtuoso.log
LockFile           = $DB/virtuoso.lck
TransactionFile    = $DB/virtuoso.trx
xa_persistent_file = $DB/virtuoso.pxa
ErrorLogLevel      = 7
FileExtend         = 200
MaxCheckpointRemap = 2000
Striping           = 0
TempStorage        = TempDatabase

[TempDatabase]
DatabaseFile       = $DB/virtuoso-temp.db
TransactionFile    = $DB/virtuoso-temp.trx
MaxCheckpointRemap = 2000
Striping           = 0

[Parameters]
ServerPort               = 127.0.0.1:$SQLPORT
DisableUnixSocket        = 1
MaxClientConnections     = 20
CheckpointInterval       = 60
O_DIRECT                 = 0
CaseMode                 = 2
MaxStaticCursorRows      = 5000
AllowOSCalls             = 0
DirsAllowed              = ., /usr/share/virtuoso-opensource-7/vad, $VIRT_ROOT
VADInstallDir            = /usr/share/virtuoso-opensource-7/vad/
MaxQueryMem              = 2G
NumberOfBuffers          = 170000
MaxDirtyBuffers          = 130000

[HTTPServer]
ServerPort                  = 127.0.0.1:$HTTPPORT
ServerRoot                  = /var/lib/virtuoso-opensource-7/vsp
MaxClientConnections        = 20
DavRoot                     = DAV
EnabledDavVSP               = 0
HTTPProxyEnabled            = 0
ServerThreads               = 20
MaxKeepAlives               = 10
KeepAliveTimeout            = 10
HTTPThreadSize              = 280000
Charset                     = UTF-8
EnabledGzipContent          = 1

[SPARQL]
ResultSetMaxRows           = 1000000
MaxQueryCostEstimationTime = 400
MaxQueryExecutionTime      = 60
MaxSortedTopRows           = 100000
INI
  echo "virtuoso set up under $VIRT_ROOT"
}

isql() { isql-vt "127.0.0.1:$SQLPORT" dba "$DBA_PW" "$@"; }

start() {
  if running; then echo "virtuoso already running"; return 0; fi
  [ -f "$INI" ] || { echo "no $INI: run $0 setup" >&2; return 1; }
  if curl -fsS -o /dev/null "http://127.0.0.1:$HTTPPORT/sparql?query=ASK%7B%7D" 2>/dev/null; then
    echo "port $HTTPPORT already answers SPARQL (another instance?): set VIRT_HTTPPORT/VIRT_SQLPORT or stop it" >&2; return 1
  fi
  # Subshell form: the recorded PID is virtuoso-t's, not a bash subshell's.
  (cd "$DB"; nohup virtuoso-t +configfile "$INI" +foreground >"$VIRT_ROOT/virtuoso.out" 2>&1 & echo $! > "$PIDF")
  for i in $(seq 1 300); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$HTTPPORT/sparql?query=ASK%7B%7D" 2>/dev/null; then
      echo "virtuoso HTTP up at http://127.0.0.1:$HTTPPORT/sparql after ~$((i/10)).$((i%10)) s"; return 0
    fi
    sleep 0.1
  done
  echo "virtuoso did not come up" >&2; tail -n 30 "$DB/virtuoso.log" >&2 || true; return 1
}

grant() {
  isql 'EXEC=GRANT SPARQL_UPDATE TO "SPARQL";' >/dev/null
  echo "SPARQL_UPDATE granted on http://127.0.0.1:$HTTPPORT/sparql"
}

stop() {
  if running; then
    pid=$(cat "$PIDF"); kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$PIDF"
}

env() { echo "export STREAMKIT_VIRTUOSO_URL=http://127.0.0.1:$HTTPPORT/sparql"; }

case "${1:-}" in
  setup|start|grant|stop|env) "$1" ;;
  *) echo "usage: $0 setup|start|grant|stop|env" >&2; exit 2 ;;
esac
