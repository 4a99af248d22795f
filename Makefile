# vnrpc: build, test, demo and benchmarks. `make help` lists the targets.
GO ?= go
# The quiet check waits for an idle machine before a measurement, where
# the tool is installed beside the repository; without it, nothing waits.
QUIET := $(firstword $(wildcard ../shared/tools/quiet) true)

.PHONY: help build demo test test-short deps bench bench-suite fmt

help:
	@echo "make build        vnrpc and vnrpc-bench into bin/"
	@echo "make demo         a server and a trading client on the simulated exchange (Ctrl-C stops both)"
	@echo "make test         gofmt, go vet and every test under the race detector (installs what the tests need)"
	@echo "make test-short   the fast tier: go test -short ./... (under a minute)"
	@echo "make bench-suite  vnrpc bench: every path beside its baselines, report and charts in bench-out/"
	@echo "make bench        the packages' go test benchmarks of the core"

deps:
	@./scripts/deps.sh

build:
	@./scripts/deps.sh build
	$(GO) build -o bin/ ./cmd/vnrpc ./cmd/vnrpc-bench

demo:
	./scripts/demo.sh

# Every test under the race detector (fuzz seeds run as ordinary tests),
# then again without it the package whose code differs under the race
# detector (ring: its zero-copy Claim). The console's browser tests save
# their screenshots in out/screenshots/.
test: deps
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	VNRPC_SCREENSHOTS=$(CURDIR)/out/screenshots $(GO) test -race -count=1 -timeout 20m ./...
	$(GO) test -count=1 -timeout 5m ./ring

test-short: deps
	$(GO) test -short -count=1 ./...

bench-suite: build
	$(QUIET)
	./bin/vnrpc bench --out bench-out

bench: deps
	$(QUIET)
	$(GO) test -run '^$$' -bench . -benchtime 2s ./engine ./gateway/sim ./rpcservice/wire
	$(GO) test -run '^$$' -bench 'OneWay/wait=spin|Throughput|Write$$' -benchtime 200000x ./ring
	$(GO) test -run '^$$' -bench 'OneWay/wait=block|OneWayBaseline' -benchtime 5000x ./ring
	$(GO) test -run '^$$' -bench KeepUp -benchtime 2000000x ./ring
	$(GO) test -run '^$$' -bench 'CallPaired' -benchtime 20000x ./rpc

fmt:
	gofmt -w $$(git ls-files '*.go')
