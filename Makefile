# mlplane: the two commands of the README, plus developer conveniences.
#   make run   - set up and start the server with embedded defaults (SQLite + local artifacts)
#   make test  - install what the tests need and run every test (what CI runs)

.PHONY: run test build bench fmt lint

run:
	bash scripts/run.sh

test:
	bash scripts/test.sh

build:
	cargo build --release -p mlplane-cli

bench:
	bash bench/run.sh

fmt:
	cargo fmt --all

lint:
	cargo clippy --workspace --all-targets -- -D warnings
