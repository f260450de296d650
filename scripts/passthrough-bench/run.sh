#!/usr/bin/env bash
# make bench-passthrough-real: the exactly-once pass-through of the same
# backlog by streamkit's Job, a raw sarama copy, Kafka Streams and Apache
# Flink, back to back on one private Kafka broker (BenchmarkPassThroughReal
# in the module root). Not in CI: 1.5–2 min per round on 2 cores.
#
# 1. builds the two JVM programs here (kstreams/, flink/) with Maven: offline
#    when ~/.m2 already holds their dependencies, else from Maven Central;
# 2. starts a single-node broker of its own with scripts/kafka.sh, on
#    KAFKA_PORT (default 47092, controller on KAFKA_PORT+100) under
#    KAFKA_ROOT (default /tmp/streamkit-passthrough-kafka), so that a shared
#    broker on 19092 is neither used nor disturbed; it stops it on exit;
# 3. runs the benchmark ROUNDS times (default 2; go test -count), each
#    round producing the backlog (STREAMKIT_BACKLOG records, default 1M)
#    and running the four copies on it.
#
# Needs go, java (17+) and mvn. Extra JVM flags for the two JVM copies:
# STREAMKIT_PASSTHROUGH_JAVA_OPTS (none by default).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
export KAFKA_ROOT=${KAFKA_ROOT:-/tmp/streamkit-passthrough-kafka}
export KAFKA_PORT=${KAFKA_PORT:-47092}
ROUNDS=${ROUNDS:-2}
GO=${GO:-go}

for m in kstreams flink; do
  (cd "$here/$m" && { mvn -q -B -o -Dstyle.color=never package 2>/dev/null ||
                      mvn -q -B -Dstyle.color=never package; })
done

"$root/scripts/kafka.sh" setup
trap '"$root/scripts/kafka.sh" stop' EXIT
"$root/scripts/kafka.sh" start
eval "$("$root/scripts/kafka.sh" env)"
export STREAMKIT_PASSTHROUGH_JAVA=$here

cd "$root"
"$GO" test -run '^$' -bench '^BenchmarkPassThroughReal$' -benchtime 1x -count "$ROUNDS" -timeout 120m .
