#!/usr/bin/env bash
# Throw-away Apache Kafka (KRaft, no ZooKeeper) on 127.0.0.1 for streamkit's
# Kafka integration tests. The broker's jars come from Maven Central through
# scripts/kafka/pom.xml (pinned version); nothing is installed system-wide and
# nothing outside $KAFKA_ROOT is written. Needs a JDK 17+ (`java`) and `mvn`.
#
# Environment:
#   KAFKA_ROOT   where jars, configs, data and logs live
#                (default /tmp/streamkit-kafka)
#   KAFKA_PORT   client port of node 1 (default 19092); node i listens on
#                KAFKA_PORT+i-1 for clients and KAFKA_PORT+100+i-1 for the
#                KRaft controller quorum. Fixed ports, so that a restarted
#                broker comes back at the same address.
#   KAFKA_NODES  1 (default) or 3: one combined broker+controller, or three
#                (start-cluster is the same as KAFKA_NODES=3 start)
#   KAFKA_HEAP   JVM heap flags per node (default -Xms128m -Xmx768m)
#
# Usage: kafka.sh setup | start | start-cluster | stop | kill [N] | restart [N] | env
#   setup          copy the broker's jars into $KAFKA_ROOT/libs with Maven
#                  (idempotent; a fresh ~/.m2 is filled from Maven Central)
#   start          erase the data, format KRaft storage and start the node(s),
#                  wait until every node answers
#   start-cluster  three nodes: replication factor 3, min.insync.replicas 2
#   stop           stop every node (SIGTERM, then SIGKILL after 30 s)
#   kill [N]       SIGKILL node N (default: every node), keeping its data
#   restart [N]    start node N (default: every stopped node) again on its
#                  existing data and wait until it answers
#   env            print the export line that enables the real-broker tests
#
# Test settings (see writeconf): topics are auto-created with 3 partitions;
# group.initial.rebalance.delay.ms=0; internal topics have replication 1 (3 in
# the cluster); transaction.max.timeout.ms stays at Kafka's 15 min (tests ask
# for up to 10 min; a test that needs a transaction aborted soon asks its
# producer for a short timeout instead), and timed-out transactions are
# aborted within ~1 s of their timeout; group.min.session.timeout.ms is
# 200 ms so that the kill tests may ask for short sessions; the controller
# fences a dead broker after 3 s (broker.session.timeout.ms, Kafka: 9 s),
# which is also how long a broker restarted after SIGKILL waits before it
# may serve again.
set -euo pipefail
KAFKA_ROOT=${KAFKA_ROOT:-/tmp/streamkit-kafka}
PORT=${KAFKA_PORT:-19092}
NODES=${KAFKA_NODES:-1}
HEAP=${KAFKA_HEAP:--Xms128m -Xmx768m}
POM=$(cd "$(dirname "$0")" && pwd)/kafka/pom.xml
LIBS=$KAFKA_ROOT/libs

bport() { echo $((PORT + $1 - 1)); }
cport() { echo $((PORT + 100 + $1 - 1)); }
pidf() { echo "$KAFKA_ROOT/node$1/kafka.pid"; }
running() { local f; f=$(pidf "$1"); [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null; }
nodes_conf() { [ -f "$KAFKA_ROOT/nodes" ] && cat "$KAFKA_ROOT/nodes" || echo "$NODES"; }

setup() {
  if [ -f "$LIBS/.complete" ]; then echo "kafka jars already under $LIBS"; return 0; fi
  rm -rf "$LIBS"; mkdir -p "$LIBS"
  mvn -q -B -Dstyle.color=never -f "$POM" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$LIBS"
  ls "$LIBS"/kafka_2.13-*.jar >/dev/null
  touch "$LIBS/.complete"
  echo "kafka jars ($(ls "$LIBS" | grep -o 'kafka_2.13-[^j]*' | sed 's/\.$//')) under $LIBS"
}

writeconf() { # node count
  local n=$1 voters="" i
  for i in $(seq 1 "$n"); do voters+="${voters:+,}$i@127.0.0.1:$(cport "$i")"; done
  local rf=1 isr=1
  if [ "$n" -ge 3 ]; then rf=3; isr=2; fi
  cat > "$KAFKA_ROOT/log4j2.properties" <<EOF
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = \${sys:kafka.logs.dir}/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
EOF
  for i in $(seq 1 "$n"); do
    mkdir -p "$KAFKA_ROOT/node$i"
    cat > "$KAFKA_ROOT/node$i/server.properties" <<EOF
process.roles=broker,controller
node.id=$i
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$(bport "$i"),CONTROLLER://127.0.0.1:$(cport "$i")
advertised.listeners=PLAINTEXT://127.0.0.1:$(bport "$i")
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$KAFKA_ROOT/node$i/data
num.network.threads=2
num.io.threads=4
num.partitions=3
auto.create.topics.enable=true
default.replication.factor=$rf
min.insync.replicas=$isr
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
transaction.state.log.num.partitions=10
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=200
transaction.max.timeout.ms=900000
transaction.abort.timed.out.transaction.cleanup.interval.ms=1000
transaction.remove.expired.transaction.cleanup.interval.ms=60000
unclean.leader.election.enable=false
broker.session.timeout.ms=3000
broker.heartbeat.interval.ms=500
# Records up to 200 MiB (the poison-record tests send 100 MiB ones).
message.max.bytes=209715200
replica.fetch.max.bytes=209715200
socket.request.max.bytes=268435456
EOF
  done
}

start_node() { # node id; data must be formatted
  local i=$1
  if running "$i"; then return 0; fi
  if (exec 3<>"/dev/tcp/127.0.0.1/$(bport "$i")") 2>/dev/null; then
    echo "port $(bport "$i") already answers (another broker?): set KAFKA_PORT or stop it" >&2; return 1
  fi
  : > "$KAFKA_ROOT/node$i/server.log"
  # Subshell + exec: the recorded PID is the JVM's.
  (cd "$KAFKA_ROOT/node$i" && exec nohup env -u CLASSPATH \
     java $HEAP -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
     -Dkafka.logs.dir="$KAFKA_ROOT/node$i" \
     -Dlog4j2.configurationFile="$KAFKA_ROOT/log4j2.properties" \
     -cp "$LIBS/*" kafka.Kafka "$KAFKA_ROOT/node$i/server.properties" \
     >"$KAFKA_ROOT/node$i/kafka.out" 2>&1 & echo $! > "$(pidf "$i")")
}

wait_nodes() { # node ids...
  local i t0=$SECONDS
  for i in "$@"; do
    for _ in $(seq 1 1200); do
      if ! running "$i"; then
        echo "kafka node $i exited:" >&2; tail -n 30 "$KAFKA_ROOT/node$i/kafka.out" "$KAFKA_ROOT/node$i/server.log" >&2 || true; return 1
      fi
      if grep -q 'Kafka Server started' "$KAFKA_ROOT/node$i/server.log" 2>/dev/null &&
         (exec 3<>"/dev/tcp/127.0.0.1/$(bport "$i")") 2>/dev/null; then continue 2; fi
      sleep 0.1
    done
    echo "kafka node $i did not come up within 120 s" >&2; tail -n 30 "$KAFKA_ROOT/node$i/server.log" >&2 || true; return 1
  done
  echo "kafka up on $(brokers_of "$@") after ~$((SECONDS - t0)) s"
}

brokers_of() { local i s=""; for i in "$@"; do s+="${s:+,}127.0.0.1:$(bport "$i")"; done; echo "$s"; }

start() {
  [ -f "$LIBS/.complete" ] || { echo "no jars under $LIBS: run $0 setup" >&2; return 1; }
  local n=$NODES i
  case "$n" in 1|3) ;; *) echo "KAFKA_NODES must be 1 or 3, not $n" >&2; return 2 ;; esac
  for i in 1 2 3; do
    if running "$i"; then echo "kafka is running under $KAFKA_ROOT: stop it first" >&2; return 1; fi
  done
  for i in 1 2 3; do rm -rf "$KAFKA_ROOT/node$i"; done
  echo "$n" > "$KAFKA_ROOT/nodes"
  writeconf "$n"
  # Uuid.toString form: 16 random bytes, URL-safe base64 without padding.
  # Like Kafka's Uuid.randomUuid, never one that starts with "-": the
  # storage tool would take it for an option (one start in 64 failed so).
  local id=-
  while [ "${id#-}" != "$id" ]; do
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | cut -c1-22)
  done
  for i in $(seq 1 "$n"); do
    command env -u CLASSPATH java -Xmx256m -Dkafka.logs.dir="$KAFKA_ROOT/node$i" \
      -Dlog4j2.configurationFile="$KAFKA_ROOT/log4j2.properties" -cp "$LIBS/*" \
      kafka.tools.StorageTool format -t "$id" -c "$KAFKA_ROOT/node$i/server.properties" >/dev/null
  done
  for i in $(seq 1 "$n"); do start_node "$i"; done
  wait_nodes $(seq 1 "$n")
}

stop() {
  local i pid
  for i in 1 2 3; do
    running "$i" || continue
    pid=$(cat "$(pidf "$i")"); kill "$pid" 2>/dev/null || true
  done
  for i in 1 2 3; do
    [ -f "$(pidf "$i")" ] || continue
    pid=$(cat "$(pidf "$i")")
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$(pidf "$i")"
  done
}

kill9() {
  local i
  for i in ${1:-$(seq 1 "$(nodes_conf)")}; do
    if running "$i"; then
      kill -9 "$(cat "$(pidf "$i")")"
      while running "$i"; do sleep 0.05; done
    fi
    rm -f "$(pidf "$i")"
  done
}

restart() {
  local i ids=()
  for i in ${1:-$(seq 1 "$(nodes_conf)")}; do
    [ -f "$KAFKA_ROOT/node$i/server.properties" ] || { echo "node $i was never started: run $0 start" >&2; return 1; }
    running "$i" && continue
    start_node "$i"; ids+=("$i")
  done
  [ ${#ids[@]} -eq 0 ] || wait_nodes "${ids[@]}"
}

print_env() { echo "export STREAMKIT_KAFKA_BROKERS=$(brokers_of $(seq 1 "$(nodes_conf)"))"; }

case "${1:-}" in
  setup|start|stop) "$1" ;;
  env) print_env ;;
  start-cluster) NODES=3 start ;;
  kill) kill9 "${2:-}" ;;
  restart) restart "${2:-}" ;;
  *) echo "usage: $0 setup|start|start-cluster|stop|kill [N]|restart [N]|env" >&2; exit 2 ;;
esac
