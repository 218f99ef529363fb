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
test: tools fmt-check clippy unit-tests validate workflow-tests

tools:
	bash scripts/install-tools.sh

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

# Unit and integration tests of every crate (real PostgreSQL, wiremock, moto);
# local-workflow's tests run in validate and workflow-tests below.
unit-tests:
	$(CARGO) test --workspace --locked --exclude local-workflow

# local-workflow test targets that are not validate's (scripted and real-binary engine
# scenarios, and any other test file of the crate).
WORKFLOW_VALIDATE_TESTS := validate sam_build
WORKFLOW_OTHER_TESTS := $(filter-out $(WORKFLOW_VALIDATE_TESTS),$(basename $(notdir $(wildcard crates/local-workflow/tests/*.rs))))

## validate: cfn-lint, sam validate --lint, asl-validator, statelint, placeholders vs
## DefinitionSubstitutions, contract checks of the definition, sam build (x86_64)
validate:
	$(CARGO) test -p local-workflow --locked $(addprefix --test ,$(WORKFLOW_VALIDATE_TESTS))

## workflow-tests: state_machine.json in aws-local-stepfunctions, with scripted task
## results and with the release binaries behind cargo-lambda's emulator
workflow-tests:
	$(CARGO) test -p local-workflow --locked --lib --bins $(addprefix --test ,$(WORKFLOW_OTHER_TESTS))

## demo: one real poll end to end on this machine: builds the release binaries, then a
## PostgreSQL (DATABASE_URL, 127.0.0.1:5432 or a throwaway cluster), a local catalog API
## (or CATALOG_API_BASE_URL / CATALOG_API_TOKEN), both Lambdas behind cargo-lambda's
## emulator and state_machine.json in aws-local-stepfunctions; DEMO_CATALOG_ID picks the id.
demo: tools
	$(CARGO) run --locked --quiet -p local-workflow --bin demo

## bench: init, latency, memory and zip size of the release binaries next to an echo
## floor, the cost per catalog, and the targets (PASS/FAIL). Not part of `make test`.
bench: tools
	$(CARGO) run --locked --release --quiet -p local-workflow --bin bench
