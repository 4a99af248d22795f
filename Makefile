# vnrpc: the two commands of the README, plus benchmarks.
GO ?= go

.PHONY: demo test deps bench bench-suite fmt

deps:
	@./scripts/deps.sh

# The demo: a trading engine on the simulated exchange with a sample order flow.
demo:
	./scripts/demo.sh

# The tests: formatting, vet, and every test under the race detector
# (fuzz seeds run as ordinary tests). The console's browser tests save
# their screenshots in out/screenshots/.
test: deps
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	VNRPC_SCREENSHOTS=$(CURDIR)/out/screenshots $(GO) test -race -count=1 -timeout 15m ./...

# The user-facing suite: every path beside its baselines, report and charts in bench-out/.
bench-suite: deps
	../shared/tools/quiet || true
	$(GO) build -o bin/vnrpc ./cmd/vnrpc
	./bin/vnrpc bench --out bench-out

# The developers' go-test benchmarks of the core.
bench: deps
	../shared/tools/quiet || true
	$(GO) test -run '^$$' -bench . -benchtime 2s ./engine ./gateway/sim
	$(GO) test -run '^$$' -bench 'OneWay/wait=spin|Throughput|Write$$' -benchtime 200000x ./ring
	$(GO) test -run '^$$' -bench 'OneWay/wait=block|OneWayBaseline' -benchtime 5000x ./ring
	$(GO) test -run '^$$' -bench KeepUp -benchtime 2000000x ./ring

fmt:
	gofmt -w $$(git ls-files '*.go')
