# streamkit make targets. `make test` is the command CI runs (see .ci/run).
GO ?= go
PKGS ?= ./...

.PHONY: test test-short vet fmt-check bench fuzz quickstart kill-soak consumer-kill-soak chaos-soak chaos-soak-job bench-passthrough bench-passthrough-real memory-1m

## test: every test, with the race detector. Integration tests run when
## their backend's environment variable is set (see README "Testing").
test:
	$(GO) test -race -count=1 -timeout 30m $(PKGS)

## test-short: fast unit tests only.
test-short:
	$(GO) test -short -count=1 $(PKGS)

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

## bench: the benchmarks named in the README, with memory statistics.
bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

## fuzz: each fuzz target for FUZZTIME (default 2m).
FUZZTIME ?= 2m
fuzz:
	@for t in $$($(GO) test -list '^Fuzz' ./rdfdiff | grep ^Fuzz); do \
		echo "== $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) ./rdfdiff || exit 1; \
	done

## kill-soak: 200 SIGKILLs of the single-instance counting job and 100 of
## the two-instance one, checked with kcat when it is installed (~7 min).
kill-soak:
	STREAMKIT_KILLS=200 STREAMKIT_KCAT=$$(command -v kcat || true) $(GO) test -count=1 -timeout 40m -run 'TestJobKill' -v .

## consumer-kill-soak: 100 SIGKILLs of the per-replica consumer writing to
## Oxigraph (needs STREAMKIT_OXIGRAPH_URL; see README "Testing").
consumer-kill-soak:
	@test -n "$$STREAMKIT_OXIGRAPH_URL" || { echo "set STREAMKIT_OXIGRAPH_URL (scripts/oxigraph/run.sh env)"; exit 1; }
	STREAMKIT_KILLS=100 STREAMKIT_CONSUMER_KILL_CHANGES=2000 $(GO) test -count=1 -timeout 30m -run TestConsumerKillOxigraph -v ./examples/wdqs

## bench-passthrough: a pass-through job with exactly-once checkpoints every
## second against a raw sarama copy of the same 1M records (~5 min).
bench-passthrough:
	$(GO) test -run '^$$' -bench '^BenchmarkPassThrough$$' -benchtime 3x .

## bench-passthrough-real: the same exactly-once pass-through of 1M records
## by the Job, raw sarama, Kafka Streams 4.1 and Flink 2.0 on a private real
## broker, two rounds back to back (needs java and mvn; ~5 min; not in CI).
bench-passthrough-real:
	scripts/passthrough-bench/run.sh

## memory-1m: the job's live heap while 1M records (191 MB) wait.
memory-1m:
	STREAMKIT_BACKLOG=1000000 $(GO) test -count=1 -run TestBacklogMemoryBounded -v .

## chaos-soak: the WDQS pipeline (updater and consumer as child processes)
## under random SIGKILLs, Swift, store and broker outages and poison records
## for CHAOS (default 30m), then checked against a fresh import. Needs the
## services of README "Testing" and a broker it may kill.
CHAOS ?= 30m
chaos-soak:
	STREAMKIT_CHAOS=$(CHAOS) STREAMKIT_KAFKA_SCRIPT=$(CURDIR)/scripts/kafka.sh $(GO) test -count=1 -timeout 90m -run TestChaosSoak -v ./examples/wdqs

## quickstart: the whole WDQS pipeline in one process, no services.
quickstart:
	$(GO) run ./examples/quickstart

## chaos-soak-job: random faults for CHAOS_DURATION (default 10m) over the
## counting job checkpointing to Swift: SIGKILLs of the job, broker kills and
## restarts, Swift's proxy down and up; then exactly once, checked with kcat.
## Needs a Kafka and a Swift it may take down (see README "Testing").
CHAOS_DURATION ?= 10m
chaos-soak-job:
	@test -n "$$STREAMKIT_KAFKA_BROKERS" && test -n "$$STREAMKIT_SWIFT_AUTH_URL" || { echo "set STREAMKIT_KAFKA_BROKERS (scripts/kafka.sh env) and the Swift variables (scripts/swift-saio.sh env)"; exit 1; }
	STREAMKIT_CHAOS=$(CHAOS_DURATION) STREAMKIT_KAFKA_SCRIPT=$${STREAMKIT_KAFKA_SCRIPT:-$(CURDIR)/scripts/kafka.sh} STREAMKIT_KCAT=$$(command -v kcat || true) \
		$(GO) test -count=1 -timeout 0 -run TestJobChaosSoak -v .

## --- Wikidata-scale state benchmark (checkpoint) ---
## bench-wikidata-state: the entity → revision state at STATE_KEYS keys, each
## size in its own process (RSS is per size): memory, full checkpoint and
## restore on files and on the real Swift of STREAMKIT_SWIFT_AUTH_URL (with
## `swift upload` of the same bytes), incremental checkpoints of 1 000 keys.
## 120M keys need ~10 GB of RAM and ~2 GB of disk under TMPDIR and Swift.
STATE_KEYS ?= 10000000 30000000 120000000
.PHONY: bench-wikidata-state
bench-wikidata-state:
	@for n in $(STATE_KEYS); do echo "== $$n keys"; \
		STREAMKIT_STATE_KEYS=$$n $(GO) test -run '^$$' -bench '^BenchmarkWikidataState$$' -benchtime 1x -timeout 60m ./checkpoint || exit 1; \
	done
## --- end Wikidata-scale state benchmark ---

## --- exactly-once latency floor (root package) ---
## bench-latency: 50 records/s through exactly-once jobs (a plain copy, and
## the updater's per-edit work with its entity → revision state) with
## checkpoints every 100 ms, 200 ms, 1 s and 10 s (LATENCY_RUN each, default
## 40s), on files and, with STREAMKIT_SWIFT_AUTH_URL set, on Swift:
## processor → commit point percentiles, CPU of short intervals (~8 min per
## store); then the CPU of one checkpoint on each store.
LATENCY_RUN ?= 40s
.PHONY: bench-latency
bench-latency:
	STREAMKIT_LATENCY_RUN=$(LATENCY_RUN) $(GO) test -run '^$$' -bench '^BenchmarkLatencyFloor$$' -benchtime 1x -timeout 60m .
	$(GO) test -run '^$$' -bench '^BenchmarkCheckpointFixedCost$$' -benchtime 500x ./checkpoint
## --- end exactly-once latency floor ---

## bench-catchup: the WDQS pipeline through a backlog of CATCHUP_EVENTS
## page_change events (real fixture entities, a local EntityData server
## answering after CATCHUP_DELAY): the updater alone, the consumer alone into
## each store the environment names (STREAMKIT_OXIGRAPH_URL,
## STREAMKIT_BLAZEGRAPH_URL), and both at once; on the real broker when
## STREAMKIT_KAFKA_BROKERS is set.
CATCHUP_EVENTS ?= 100000
CATCHUP_DELAY ?= 50ms
CATCHUP_FETCHES ?= 64
.PHONY: bench-catchup
bench-catchup:
	STREAMKIT_CATCHUP_EVENTS=$(CATCHUP_EVENTS) STREAMKIT_CATCHUP_DELAY=$(CATCHUP_DELAY) STREAMKIT_CATCHUP_FETCHES=$(CATCHUP_FETCHES) \
		$(GO) test -run '^$$' -bench '^BenchmarkCatchUp$$' -benchtime 1x -timeout 120m ./examples/wdqs
