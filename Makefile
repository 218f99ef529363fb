# Entry points: `make test` (everything the project checks), `make demo`, `make bench`.
# Third-party tools are installed into .tools/ by scripts/install-tools.sh (idempotent).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
TOOLS := $(CURDIR)/.tools
export PATH := $(TOOLS)/venv/bin:$(TOOLS)/node/node_modules/.bin:$(PATH)
export CATALOG_POLLER_TOOLS := $(TOOLS)
CARGO ?= cargo

.PHONY: test tools fmt-check clippy unit-tests validate workflow-tests demo bench

## test: install tools, then formatting, lints and every test the project has
test: tools fmt-check clippy unit-tests

tools:
	bash scripts/install-tools.sh

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

# Unit and integration tests of every crate (real PostgreSQL, wiremock, moto).
unit-tests:
	$(CARGO) test --workspace --locked
