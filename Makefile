# batchbench — the two commands of the README are `make bench` and `make test`.

# Burn takes ~15 minutes to build from scratch on 2 cores: keep one target folder
# across clones, sessions and CI runs. Override with CARGO_TARGET_DIR=... make ...
CARGO_TARGET_DIR ?= /var/tmp/batchbench-target
export CARGO_TARGET_DIR

BIN   := $(CARGO_TARGET_DIR)/release/batchbench
SUITE ?= suites/quickstart.yaml
NAME   = $(shell sed -n 's/^name:[[:space:]]*//p' $(SUITE) | head -n1)

.PHONY: build bench test data report bench-micro

## build: the release binary
build:
	cargo build --release --locked

## bench: run SUITE (default: the quickstart, embedded data) into results/<name>/,
## then render reports/<name>/index.html and print its path
bench: build
	$(BIN) run $(SUITE) --fresh --report

## report: re-render the report of SUITE from its saved records
report: build
	$(BIN) report results/$(NAME)

## bench-micro: criterion benchmarks (report rendering, training steps, data path)
bench-micro:
	cargo bench --locked

## test: unit, integration and CLI tests (no GPU, no dataset download needed)
test:
	cargo test --locked

## data: Fashion-MNIST for suites/fashion-mlp.yaml (Debian package, else download)
data:
	@if [ -d /usr/share/datasets/fashion-mnist ]; then \
	  echo "Fashion-MNIST is installed in /usr/share/datasets/fashion-mnist"; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  apt-get install -y dataset-fashion-mnist; \
	else \
	  mkdir -p data && BATCHBENCH_DATA=$(CURDIR)/data cargo run --release --locked -- data fetch fashion-mnist && \
	  echo "export BATCHBENCH_DATA=$(CURDIR)/data  # so batchbench finds it"; \
	fi
