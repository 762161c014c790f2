# Barista: `make run` starts the suite in memory, `make test` runs every test.
# Tools (buf, protoc plugins, grpcurl) are pinned in tools/go.mod and run with
# `go tool`, so nothing needs installing by hand.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# The Go modules of the workspace that hold code and tests.
MODULES := . pkg services/event services/profile services/segment services/metrics
PACKAGES := $(foreach m,$(MODULES),./$(m)/...)
GO_TOOL := go tool
TEST_FLAGS ?= -count=1 -timeout 15m
BIN := .bin

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

.PHONY: run
run: ## run the whole suite in one process, in memory (gRPC 127.0.0.1:7070, HTTP 127.0.0.1:7080)
	go run ./cmd/barista dev

.PHONY: test
test: ## run every test, with Postgres ($$TEST_DATABASE_URL, the local server, or a throwaway cluster)
	@url="$$(scripts/test-postgres)"; \
	if [[ -n "$$url" ]]; then echo "Postgres for tests: $${url%%\?*}"; fi; \
	TEST_DATABASE_URL="$$url" go test $(TEST_FLAGS) -v $(PACKAGES) 2>&1 | scripts/test-summary
	@$(MAKE) --no-print-directory test-ts
	@$(MAKE) --no-print-directory test-sdk

.PHONY: test-ts
test-ts: ## run the TypeScript client's tests against a running dev server
	@if command -v npm >/dev/null; then \
	  npm ci --prefix clients/ts --no-audit --no-fund --loglevel=error >/dev/null && \
	  go build -o $(BIN)/barista ./cmd/barista && \
	  BARISTA_BIN="$(CURDIR)/$(BIN)/barista" npm test --prefix clients/ts; \
	else echo "npm not found: skipping the TypeScript client tests"; [[ -z "$${CI:-}" ]]; fi

.PHONY: test-sdk
test-sdk: ## send events with the real Segment and RudderStack Node SDKs to a running dev server
	@if command -v npm >/dev/null; then \
	  npm ci --prefix clients/ts --no-audit --no-fund --loglevel=error >/dev/null && \
	  npm ci --prefix clients/sdk-e2e --no-audit --no-fund --loglevel=error >/dev/null && \
	  go build -o $(BIN)/barista ./cmd/barista && \
	  BARISTA_BIN="$(CURDIR)/$(BIN)/barista" npm test --prefix clients/sdk-e2e; \
	else echo "npm not found: skipping the SDK end-to-end tests"; [[ -z "$${CI:-}" ]]; fi

.PHONY: bench
bench: ## measure every performance goal against same-run baselines and write BENCHMARKS.md (QUICK=1: under two minutes)
	QUICK="$(QUICK)" scripts/bench-report

.PHONY: bench-ingest
bench-ingest: ## events/s through gRPC streaming and HTTP /v1/batch, as ratios to a raw pgx CopyFrom; then four producers against four CopyFrom loops
	@url="$$(scripts/test-postgres)"; \
	TEST_DATABASE_URL="$$url" go test -count=1 -run '^$$' -bench '^BenchmarkIngest$$' -benchtime 10x ./internal/benchsuite/ingest/ && \
	TEST_DATABASE_URL="$$url" BENCH_SECONDS=2 go test -count=1 -run '^$$' -bench '^BenchmarkIngestSustained$$' -benchtime 1x ./internal/benchsuite/ingest/

.PHONY: bench-segment
bench-segment: ## profile x segment evaluations/s and backfill time on generated Postgres facts, as ratios to hand-written SQL GROUP BY
	@url="$$(scripts/test-postgres)"; \
	TEST_DATABASE_URL="$$url" go test -count=1 -run '^$$' -bench '^BenchmarkEvaluation$$' -benchtime 3x ./services/segment/internal/postgres/

.PHONY: build
build: ## build barista and the four service binaries into .bin/
	go build -o $(BIN)/ ./cmd/barista ./services/event/cmd/event ./services/profile/cmd/profile \
	  ./services/segment/cmd/segment ./services/metrics/cmd/metrics

.PHONY: generate
generate: ## regenerate the Go and TypeScript code from proto/
	$(GO_TOOL) buf generate
	@if [[ -x clients/ts/node_modules/.bin/protoc-gen-es ]] || npm ci --prefix clients/ts --no-audit --no-fund --loglevel=error >/dev/null; then \
	  $(GO_TOOL) buf generate --template buf.gen.ts.yaml; fi

.PHONY: lint
lint: ## buf lint, buf breaking against main, go vet, kustomize build of deploy/
	$(GO_TOOL) buf lint
	@if git rev-parse --verify -q main >/dev/null && git cat-file -e main:proto 2>/dev/null; then \
	  echo "buf breaking --against .git#branch=main"; $(GO_TOOL) buf breaking --against '.git#branch=main'; \
	else echo "buf breaking: main has no proto/ yet, nothing to compare"; fi
	go vet $(PACKAGES)
	@for k in deploy/base deploy/overlays/*/; do echo "kustomize build $$k"; $(GO_TOOL) kustomize build $$k >/dev/null; done

.PHONY: verify
verify: generate ## fail if generated code, formatting or go.mod files are stale
	@unformatted="$$(gofmt -l $(MODULES:%=%/) cmd internal | sort -u)"; \
	if [[ -n "$$unformatted" ]]; then echo "not gofmt'ed:"; echo "$$unformatted"; exit 1; fi
	@for m in $(MODULES) tools; do (cd $$m && go mod tidy); done
	@git diff --exit-code --stat -- pkg/gen clients/ts/src/gen '*go.mod' '*go.sum' || \
	  { echo "generated code or go.mod files are stale: run make verify and commit the result"; exit 1; }
	@untracked="$$(git ls-files --others --exclude-standard -- pkg/gen clients/ts/src/gen)"; \
	if [[ -n "$$untracked" ]]; then echo "untracked generated files:"; echo "$$untracked"; exit 1; fi

.PHONY: clean
clean: ## remove build output and the throwaway test cluster
	-@[[ -f .tmp/postgres/postmaster.pid ]] && runuser -u postgres -- pg_ctl -D .tmp/postgres stop -m fast || true
	rm -rf $(BIN) .tmp
