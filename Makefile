# ikp developer and CI entry points.
#   make test   fmt check, clippy, then `cargo test` against a fresh test control plane (tests/cluster),
#               then the scan of the suite's logs for fixture secrets (tests/secret_leaks.rs)
#   make fmt    format the code
#   make lint   fmt check + clippy with warnings as errors
#   make cluster-build   build the control plane binaries only (Go; a no-op when nothing changed)
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
CARGO ?= cargo
# Extra arguments for cargo test, e.g. `make test CARGO_TEST_ARGS='--test cluster_smoke'`.
CARGO_TEST_ARGS ?=

.PHONY: test fmt fmt-check lint clippy cluster-build

test: lint cluster-build
	$(CARGO) test --no-run --quiet $(CARGO_TEST_ARGS)
	$(CARGO) test --no-run --quiet --test secret_leaks
	rm -rf target/test-logs
	tests/cluster/run $(CARGO) test $(CARGO_TEST_ARGS)
	@# Every log line and error message the suite wrote (target/test-logs/) against the fixtures' secrets;
	@# after a run restricted by CARGO_TEST_ARGS there may be nothing to scan, so it is skipped then.
	$(if $(strip $(CARGO_TEST_ARGS)),@echo "secret scan skipped: CARGO_TEST_ARGS restricts the suite",$(CARGO) test --test secret_leaks -- --nocapture)

fmt:
	$(CARGO) fmt --all

fmt-check:
	$(CARGO) fmt --all --check

clippy:
	$(CARGO) clippy --all-targets -- -D warnings

lint: fmt-check clippy

cluster-build:
	tests/cluster/build
