# batchbench — the two commands of the README are `make bench` and `make test`.

# Burn takes ~15 minutes to build from scratch on 2 cores: keep one target folder
# across clones, sessions and CI runs. Override with CARGO_TARGET_DIR=... make ...
CARGO_TARGET_DIR ?= /var/tmp/batchbench-target
export CARGO_TARGET_DIR

BIN   := $(CARGO_TARGET_DIR)/release/batchbench
SUITE ?= suites/quickstart.yaml
# The suite's name, from batchbench itself (never parse YAML with sed).
NAME   = $(shell $(BIN) plan $(SUITE) --json | sed -n 's/^  "suite": "\(.*\)",$$/\1/p')

.PHONY: build bench test data report bench-micro compare-pytorch regress gpu-check gpu-verify dist fuzz man

## build: the release binary with the cargo features in FEATURES (default: wgpu, the
## backend for non-NVIDIA GPUs; FEATURES= leaves it out, FEATURES=wgpu,openblas adds
## the ndarray CPU backend)
FEATURES ?= wgpu
# With wgpu (the default set) no --no-default-features, so the binary is built with the
# same features as `cargo test`'s and `make bench && make test` compile it once.
FEATURE_FLAGS = $(if $(findstring wgpu,$(FEATURES)),,--no-default-features) $(if $(FEATURES),--features $(FEATURES))
build:
	cargo build --release --locked $(FEATURE_FLAGS)

## bench: run SUITE (default: the quickstart, embedded data) into results/<name>/,
## then render reports/<name>/index.html and print its path
bench: build
	$(BIN) run $(SUITE) --fresh --report

## report: re-render the report of SUITE from its saved records
report: build
	$(BIN) report results/$(NAME)

## bench-micro: criterion benchmarks (report rendering, training steps, data path,
## convolution passes patched vs upstream, harness overhead)
bench-micro:
	cargo bench --locked

## test: unit, integration and CLI tests (no GPU, no dataset download needed). In the
## release profile, so `make bench && make test` compile Burn once, not twice. The
## tools some tests run (MLCommons' MLPerf log checker, actionlint) are installed
## once into a virtual environment, TEST_VENV, kept like the target folder.
TEST_VENV ?= /var/tmp/batchbench-venv
test: $(TEST_VENV)/.installed
	PATH="$(TEST_VENV)/bin:$$PATH" cargo test --release --locked

$(TEST_VENV)/.installed: tests/requirements.txt
	python3 -m venv $(TEST_VENV)
	$(TEST_VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/requirements.txt
	touch $@

## man: man pages (batchbench.1 and one per subcommand) into man/
man: build
	$(BIN) man --out man

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

## compare-pytorch: Burn, PyTorch and JAX on the same training steps (suites/step-bench.yaml),
## through batchbench's engines: one sampler, one report; the "Engines at batch N" lines
## give samples/s with ratios (DEVICE=cpu|cuda; PYTHON must have numpy, torch and jax;
## CPU_BACKEND=flex|ndarray, where ndarray needs FEATURES=wgpu,openblas)
DEVICE ?= cpu
PYTHON ?= python3
CPU_BACKEND ?= flex
STEP_OUT = results/step-bench-$(DEVICE)$(if $(filter cpu,$(DEVICE)),-$(CPU_BACKEND))
compare-pytorch: build
	$(BIN) run suites/step-bench.yaml --device $(DEVICE) --cpu-backend $(CPU_BACKEND) --python $(PYTHON) --fresh --quiet --out $(STEP_OUT)
	$(BIN) report $(STEP_OUT) --out reports/$(notdir $(STEP_OUT))
	@grep -E '^- \*\*Engines at' reports/$(notdir $(STEP_OUT))/summary.md || true

## regress: run SUITE again and compare with the baseline results folder BASE
## (same testbed); exits 1 on a regression. Example: make regress BASE=baselines/quickstart
regress: build
	@test -n "$(BASE)" || { echo "set BASE to a baseline results folder, e.g. make regress BASE=baselines/quickstart"; exit 2; }
	$(BIN) run $(SUITE) --fresh --quiet --out results/regress-$(NAME)
	$(BIN) compare $(BASE) results/regress-$(NAME) --fail-on-regression --out reports/regress-$(NAME)

## gpu-check: the GPU smoke test (needs an NVIDIA GPU, driver and NVRTC)
gpu-check: build
	BATCHBENCH=$(BIN) scripts/gpu-check.sh

## gpu-verify: the one-call GPU verification (scripts/gpu-verify.sh; DEVICE=cpu tests
## its logic on the CPU); writes summary.txt, table.json, evidence.tar.gz to VERIFY_OUT
gpu-verify: build
	BATCHBENCH=$(BIN) scripts/gpu-verify.sh

## dist: a binary that travels to a GPU host or a cluster: dist/batchbench/ (the
## binary, suites, scripts, the Python engines) and dist/batchbench.tar.gz. Built with
## the dist profile (Cargo.toml: optimized across crates at link time, stripped), a
## build of its own beside make build's: 62.0 MB, or 48.5 MB with FEATURES= (no wgpu)
dist:
	cargo build --profile dist --locked $(FEATURE_FLAGS)
	rm -rf dist && mkdir -p dist/batchbench
	cp $(CARGO_TARGET_DIR)/dist/batchbench dist/batchbench/batchbench
	cp -r suites scripts engines dist/batchbench/
	tar -czf dist/batchbench.tar.gz -C dist batchbench
	@ls -l dist/batchbench/batchbench dist/batchbench.tar.gz

## fuzz: run each cargo-fuzz target for FUZZ_SECONDS (needs `cargo install cargo-fuzz`
## and a nightly toolchain), seeded with the shipped suites, the hostile corpus, the
## fixture records (one per file) and command lines; FUZZ_TARGETS picks some
FUZZ_SECONDS ?= 600
FUZZ_TARGETS ?= suite idx records cli
FUZZ_LIMITS = -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -timeout=10
fuzz:
	mkdir -p fuzz/corpus/suite fuzz/corpus/idx fuzz/corpus/records fuzz/corpus/cli
	cp suites/*.yaml tests/suites/invalid/*.yaml fuzz/corpus/suite/
	cp tests/hostile/idx/* fuzz/corpus/idx/
	cp tests/hostile/records/* fuzz/corpus/records/
	split -l 1 tests/fixtures/records/runs.jsonl fuzz/corpus/records/fixture-
	cp fuzz/seeds/cli/* fuzz/corpus/cli/
	for t in $(FUZZ_TARGETS); do \
	  extra=""; [ $$t = records ] && extra="-max_len=65536"; [ $$t = cli ] && extra="-dict=cli.dict"; \
	  (cd fuzz && cargo +nightly fuzz run -O $$t corpus/$$t -- $(FUZZ_LIMITS) $$extra) || exit 1; \
	done
