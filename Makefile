# helpdesk: `make dev` runs the whole product locally, `make test` runs the
# full test suite. Both install what they need first (idempotently).

# go.temporal.io/server v1.32 needs Go >= 1.26.10; the module proxy serves
# this toolchain and the go command fetches it on first use.
export GOTOOLCHAIN := go1.27.3

GO        ?= go
BIN       := bin/helpdesk
WEB_SRC   := $(shell find web/src web/index.html web/package.json web/vite.config.ts -type f 2>/dev/null)
GO_SRC    := $(shell find . -name '*.go' -not -path './web/node_modules/*' 2>/dev/null) go.mod go.sum
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
TEST_TIMEOUT ?= 30m

.PHONY: dev test build web services browser bench bench-timers bench-routing bench-bodies bench-authz bench-audit bench-search clean help

help:
	@echo "make dev    - install services if missing, build, run everything (Ctrl-C stops)"
	@echo "make test   - install services if missing, build the UI, run every test"
	@echo "make build  - build $(BIN) with the web UI embedded"
	@echo "make bench  - measure ticket creation against a bare-Temporal baseline"

## services: PostgreSQL, Elasticsearch (and the users they run as)
services:
	@bash deploy/local/install.sh

browser:
	@bash deploy/local/install-browser.sh

web/node_modules/.package-lock.json: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	@touch $@

web/dist/index.html: web/node_modules/.package-lock.json $(WEB_SRC)
	cd web && npm run build

web: web/dist/index.html

$(BIN): web/dist/index.html $(GO_SRC)
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/helpdesk

build: $(BIN)

dev: services build
	./$(BIN) dev

test: services browser web
	$(GO) vet ./...
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...
	$(GO) test -run='^$$' -fuzz=FuzzParse -fuzztime=15s -fuzzminimizetime=100x ./internal/mailparse/
	$(GO) test -run='^$$' -fuzz=FuzzParse -fuzztime=10s -fuzzminimizetime=100x ./internal/query/

## bench: API ticket creation against a bare-Temporal baseline (docs/benchmarks.md)
bench: services
	$(GO) run ./bench/create -requests 400

## bench-routing: 10,000 creates with a priority rule and a least-loaded assignment rule on, against the bare-Temporal baseline; spread per agent (docs/benchmarks.md)
bench-routing: services
	$(GO) run ./bench/create -requests 10000 -concurrency 16 -routing 5

## bench-intake: 1,000 messages from Dovecot into durable tickets and comments (IMAP IDLE poller), then 200 APPEND → ticket latencies; asserts none lost, doubled or quarantined (docs/benchmarks.md)
bench-intake: services
	$(GO) run ./bench/intake -messages 1000

## bench-authz: GET /api/v1/tickets/{id} with and without access control (and on the API stack without the guard; and the bare path twice, as the noise control), closed loop at saturation and open loop at half the unprotected capacity; p50/p99, their ratio, CPU per request (docs/benchmarks.md)
bench-authz: services
	$(GO) run ./bench/authz -requests 4000 -clients 16 -fraction 0.5 -open-duration 10s -rounds 10

## bench-audit: what one queued audit row (an allowed read's) costs: rows/s, CPU per row in the API process and in PostgreSQL (docs/benchmarks.md)
bench-audit: services
	$(GO) run ./bench/auditrow -rows 100000 -rounds 3

## bench-timers: 10,000 open tickets with pending SLA timers: timer lateness, Update latency, worker RSS (docs/benchmarks.md)
bench-timers: services
	$(GO) run ./bench/timers -n 10000 -persistence postgres

## bench-search: 100,000 synthetic tickets (COPY) indexed from PostgreSQL; five typical queries p50/p95/p99 with and without facets; a live set of 5,000 workflow-backed tickets: Update rate, change → searchable lag, one bulk action; a CSV export of the corpus: rows/s and heap (docs/benchmarks.md)
bench-search: services
	$(GO) run ./bench/search -n 100000 -live 5000

## bench-bodies: the decompression bomb and an anonymous 10 MiB body against the API: latency, bytes read per request, RSS (docs/benchmarks.md)
bench-bodies:
	$(GO) run ./bench/bodies -requests 200 -clients 16

clean:
	rm -rf bin web/dist/assets web/dist/index.html
