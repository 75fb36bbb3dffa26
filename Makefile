# paylog's two set-up commands, plus a few conveniences.
#
#   make run    installs what is missing, builds the optimised (release) binary, and
#               runs `paylog serve`
#               (embedded RocksDB in ./data, the WeChat simulator in-process)
#   make test   installs what is missing, checks formatting and lints, then runs the
#               whole test suite (CI runs this)
#   make lint   the formatting and lint checks alone
#
# Cargo's target dir lives outside the checkout so that fresh clones (CI) reuse
# the ~17-minute RocksDB C++ build instead of repeating it.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/paylog-target
CARGO ?= cargo

.PHONY: run test setup demo bench lint

setup:
	@bash .ci/setup.sh

# The release profile: a shop (or a curious reader timing it) gets the optimised build.
run: setup
	$(CARGO) run --release -p paylog-api --bin paylog -- serve $(ARGS)

# Lints first, so a formatting slip fails in seconds rather than after the suite.
test: lint
	$(CARGO) test --workspace

demo: setup
	$(CARGO) run -p paylog-api --bin paylog -- demo

bench: setup
	$(CARGO) run --release -p paylog-api --bin paylog -- bench $(ARGS)

lint: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
