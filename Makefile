# streamkit make targets. `make test` is the command CI runs (see .ci/run).
GO ?= go
PKGS ?= ./...

.PHONY: test test-short vet fmt-check bench fuzz quickstart

## test: every test, with the race detector. Integration tests run when
## their backend's environment variable is set (see README "Testing").
test:
	$(GO) test -race -count=1 $(PKGS)

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
