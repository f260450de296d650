#!/usr/bin/env bash
# Throw-away Blazegraph 2.1.5 (the store WDQS runs) on 127.0.0.1, for
# streamkit's sink integration tests. The release is pinned in
# scripts/blazegraph/pom.xml and fetched from Maven Central by Maven; the
# journal lives under $BLAZEGRAPH_ROOT, nothing else is touched.
#
# The executable jar's own launcher (StandaloneNanoSparqlServer) fails on
# Java 9 and later: it looks the web app up with String.class.getResource,
# which returns null for a class of the java.base module. This script starts
# the NanoSparqlServer class of the same jar instead, with a small Jetty
# configuration of its own (jetty.xml, written by setup) that serves the web
# app under /bigdata, the context path WDQS uses (the jar's own
# configuration serves /blazegraph and redirects /bigdata there, which a POST
# does not survive). It runs on the system's Java 17 without extra flags.
#
# start creates the namespace "wdq" as WDQS configures its namespace: triples
# (no quads), no statement identifiers, no full-text index, no inference
# (truth maintenance off, NoAxioms, justify off), raw records off, WDQS's
# B-tree branching factors, small slots and buffer capacity. Left out, because
# they name classes of WDQS's own Blazegraph extension jar
# (org.wikidata.query.rdf:blazegraph), which is not part of Blazegraph:
# vocabularyClass (WikibaseVocabulary), inlineURIFactory
# (WikibaseInlineUriFactory), extensionFactoryClass (WikibaseExtensionFactory)
# and the geospatial wktLiteral configuration (its WKTSerializer). These only
# change how terms are encoded inside the journal, not which terms a query
# returns. Also left out: writeCacheBufferCount=1000, which reserves about
# 1 GB of native memory for bulk loads.
#
# Environment: BLAZEGRAPH_ROOT (default /tmp/streamkit-blazegraph),
# BLAZEGRAPH_PORT (9999), BLAZEGRAPH_JAVA (java), BLAZEGRAPH_HEAP (1g).
#
# Usage: blazegraph.sh setup | start | stop | env
#   setup  fetch the pinned jar with Maven into $BLAZEGRAPH_ROOT, write the
#          Jetty and namespace configuration, erase any journal
#   start  start Blazegraph in the background, wait until it answers, create
#          the namespace "wdq" if it is missing (idempotent)
#   stop   stop the server started by start
#   env    print the export line that enables the Blazegraph tests
set -euo pipefail
DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=${BLAZEGRAPH_ROOT:-/tmp/streamkit-blazegraph}
PORT=${BLAZEGRAPH_PORT:-9999}
JAVA=${BLAZEGRAPH_JAVA:-java}
HEAP=${BLAZEGRAPH_HEAP:-1g}
NS=wdq
BASE=http://127.0.0.1:$PORT/bigdata
PIDF=$ROOT/blazegraph.pid

running() { [ -f "$PIDF" ] && kill -0 "$(cat "$PIDF")" 2>/dev/null; }

# namespace_properties writes the properties of a WDQS-like namespace.
namespace_properties() {
  cat <<PROPS
com.bigdata.rdf.sail.namespace=$NS
com.bigdata.rdf.store.AbstractTripleStore.quads=false
com.bigdata.rdf.store.AbstractTripleStore.statementIdentifiers=false
com.bigdata.rdf.store.AbstractTripleStore.textIndex=false
com.bigdata.rdf.sail.truthMaintenance=false
com.bigdata.rdf.store.AbstractTripleStore.axiomsClass=com.bigdata.rdf.axioms.NoAxioms
com.bigdata.rdf.store.AbstractTripleStore.justify=false
com.bigdata.rdf.store.AbstractTripleStore.enableRawRecordsSupport=false
com.bigdata.rdf.sail.bufferCapacity=100000
com.bigdata.namespace.$NS.lex.com.bigdata.btree.BTree.branchingFactor=400
com.bigdata.namespace.$NS.lex.ID2TERM.com.bigdata.btree.BTree.branchingFactor=600
com.bigdata.namespace.$NS.lex.TERM2ID.com.bigdata.btree.BTree.branchingFactor=330
com.bigdata.namespace.$NS.spo.com.bigdata.btree.BTree.branchingFactor=1024
com.bigdata.namespace.$NS.spo.OSP.com.bigdata.btree.BTree.branchingFactor=900
com.bigdata.namespace.$NS.spo.SPO.com.bigdata.btree.BTree.branchingFactor=900
PROPS
}

setup() {
  if running; then echo "blazegraph is running under $ROOT: stop it first" >&2; return 1; fi
  mkdir -p "$ROOT"
  rm -f "$ROOT"/*.jnl
  mvn -q -B -Dstyle.color=never -f "$DIR/blazegraph/pom.xml" dependency:copy -DoutputDirectory="$ROOT"
  # Journal (store-wide) settings, as WDQS's RWStore.properties has them. The
  # default namespace the server creates at startup gets the same triples-mode
  # settings as wdq.
  { cat <<PROPS
com.bigdata.journal.AbstractJournal.file=$ROOT/blazegraph.jnl
com.bigdata.journal.AbstractJournal.bufferMode=DiskRW
com.bigdata.service.AbstractTransactionService.minReleaseAge=1
com.bigdata.journal.Journal.groupCommit=false
com.bigdata.btree.writeRetentionQueue.capacity=4000
com.bigdata.btree.BTree.branchingFactor=128
com.bigdata.journal.AbstractJournal.initialExtent=209715200
com.bigdata.journal.AbstractJournal.maximumExtent=209715200
com.bigdata.rwstore.RWStore.smallSlotType=1024
com.bigdata.journal.AbstractJournal.historicalIndexCacheCapacity=20
com.bigdata.journal.AbstractJournal.historicalIndexCacheTimeout=5
PROPS
    namespace_properties | grep -v '^com.bigdata.rdf.sail.namespace='
  } > "$ROOT/RWStore.properties"
  namespace_properties > "$ROOT/$NS.properties"
  cat > "$ROOT/jetty.xml" <<'XML'
<?xml version="1.0"?>
<!DOCTYPE Configure PUBLIC "-//Jetty//Configure//EN" "http://www.eclipse.org/jetty/configure.dtd">
<!-- Blazegraph's web app under /bigdata on one loopback connector. -->
<Configure id="Server" class="org.eclipse.jetty.server.Server">
  <Call name="addConnector">
    <Arg>
      <New class="org.eclipse.jetty.server.ServerConnector">
        <Arg name="server"><Ref refid="Server"/></Arg>
        <Set name="host"><SystemProperty name="jetty.host" default="127.0.0.1"/></Set>
        <Set name="port"><SystemProperty name="jetty.port" default="9999"/></Set>
      </New>
    </Arg>
  </Call>
  <Set name="handler">
    <New id="WebAppContext" class="org.eclipse.jetty.webapp.WebAppContext">
      <Set name="war"><SystemProperty name="jetty.home"/></Set>
      <Set name="contextPath">/bigdata</Set>
      <Set name="descriptor">WEB-INF/web.xml</Set>
      <Set name="overrideDescriptor"><SystemProperty name="jetty.overrideWebXml"/></Set>
      <Set name="parentLoaderPriority">true</Set>
      <Set name="extractWAR">false</Set>
      <!-- WDQS's limit for form posts: 200 MB. -->
      <Set name="maxFormContentSize">200000000</Set>
    </New>
  </Set>
</Configure>
XML
  echo "blazegraph set up under $ROOT"
}

start() {
  if running; then echo "blazegraph already running at $BASE"; return 0; fi
  [ -f "$ROOT/blazegraph.jar" ] || { echo "no $ROOT/blazegraph.jar: run $0 setup" >&2; return 1; }
  if curl -fsS -o /dev/null "$BASE/status" 2>/dev/null; then
    echo "port $PORT already answers (another instance?): set BLAZEGRAPH_PORT or stop it" >&2; return 1
  fi
  jar=$ROOT/blazegraph.jar
  # Subshell form: the recorded PID is the JVM's.
  (cd "$ROOT"; nohup "$JAVA" -server "-Xmx$HEAP" -XX:+UseParallelGC -XX:ParallelGCThreads=2 \
    -Djetty.host=127.0.0.1 -Djetty.port="$PORT" \
    "-Djetty.home=jar:file:$jar!/war" "-Djetty.overrideWebXml=jar:file:$jar!/war/WEB-INF/override-web.xml" \
    -cp "$jar" com.bigdata.rdf.sail.webapp.NanoSparqlServer -jettyXml "$ROOT/jetty.xml" \
    "$PORT" kb "$ROOT/RWStore.properties" >"$ROOT/blazegraph.log" 2>&1 & echo $! >"$PIDF")
  up=
  for i in $(seq 1 600); do
    if curl -fsS -o /dev/null "$BASE/status" 2>/dev/null; then up=1; break; fi
    if ! running; then break; fi
    sleep 0.1
  done
  if [ -z "$up" ]; then
    echo "blazegraph did not come up" >&2; tail -n 30 "$ROOT/blazegraph.log" >&2 || true; return 1
  fi
  if ! curl -fsS -o /dev/null "$BASE/namespace/$NS/properties" 2>/dev/null; then
    curl -fsS -o /dev/null -X POST -H 'Content-Type: text/plain' --data-binary @"$ROOT/$NS.properties" "$BASE/namespace"
  fi
  # The namespace must be in triples mode without inference, or the tests
  # would be checking another store.
  props=$(curl -fsS -H 'Accept: text/plain' "$BASE/namespace/$NS/properties")
  for want in 'AbstractTripleStore.quads=false' 'axiomsClass=com.bigdata.rdf.axioms.NoAxioms' 'AbstractTripleStore.statementIdentifiers=false'; do
    grep -qF "$want" <<<"$props" || { echo "namespace $NS lacks $want" >&2; return 1; }
  done
  echo "blazegraph up at $BASE/namespace/$NS/sparql after ~$((i/10)).$((i%10)) s"
}

stop() {
  if running; then
    pid=$(cat "$PIDF"); kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$PIDF"
}

env() { echo "export STREAMKIT_BLAZEGRAPH_URL=$BASE/namespace/$NS/sparql"; }

case "${1:-}" in
  setup|start|stop|env) "$1" ;;
  *) echo "usage: $0 setup|start|stop|env" >&2; exit 2 ;;
esac
