# lmrec: `make demo` runs the main job end to end; `make test` runs the whole test suite.
# Both create .venv when it is missing. torch is installed first and pinned so that pip takes the
# CPU build (a plain `torch` requirement would pull a multi-GB CUDA build).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH := torch==2.13.0
export OMP_NUM_THREADS ?= 2
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1

.PHONY: demo test smoke browser install lint bench bench-install bench-check bench-readme clean

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e '.[serve,dev]' $(TORCH)
	touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/lmrec quickstart

# the browser test (tests/serve/test_browser.py) needs Debian's chromium: installed here with the script CI
# uses when this runs as root with apt-get; elsewhere (or offline) that test is skipped with a one-line reason
# saying how to enable it. CI (.ci/run) installs it first and requires it (LMREC_REQUIRE_BROWSER=1).
browser:
	@if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  .ci/browser.sh || echo "make: could not install chromium (offline?); the browser test will be skipped"; \
	else echo "make: not root with apt-get: the browser test will be skipped (sudo .ci/browser.sh enables it)"; fi

test: install browser
	$(BIN)/python -m pytest -q

# the README's tour with tiny budgets in a temporary folder: fails when a README command no longer works
smoke: install
	$(BIN)/python scripts/smoke.py

lint: install
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache

# Benchmarks against peer libraries, in their own venv (.venv-bench): implicit, cornac, lenskit and RecBole
# next to lmrec. torch goes in first (CPU build) and is pinned by a constraints file so that no peer pulls
# another torch. RecBole 1.2.1 predates numpy 2: it is installed without its dependencies (its ray, used only
# by its tuner, is left out) and benchmarks/_recbole.py shims the removed numpy aliases before importing it.
BENCH_VENV := .venv-bench
BENCH_BIN := $(BENCH_VENV)/bin
BENCH_PEERS := implicit==0.7.3 cornac==3.0.1 lenskit==2025.8.1 threadpoolctl==3.8.0
BENCH_DEPS := numpy pandas pyarrow scipy pydantic typer rich safetensors tqdm pyyaml scikit-learn tensorboard pytest
BENCH_NODEPS := recbole==1.2.1 colorlog==4.7.2 colorama==0.4.4 thop tabulate texttable plotly

$(BENCH_BIN)/.installed: pyproject.toml
	test -x $(BENCH_BIN)/python || $(PY) -m venv $(BENCH_VENV)
	$(BENCH_BIN)/pip install -q $(TORCH)
	echo '$(TORCH)' > $(BENCH_VENV)/constraints.txt
	$(BENCH_BIN)/pip install -q -c $(BENCH_VENV)/constraints.txt $(BENCH_PEERS) $(BENCH_DEPS)
	$(BENCH_BIN)/pip install -q --no-deps $(BENCH_NODEPS)
	$(BENCH_BIN)/pip install -q --no-deps -e .
	touch $@

bench-install: $(BENCH_BIN)/.installed

# lmrec's metrics vs RecBole's metric implementations (must agree to 1e-6); bench venv only, not in `make test`
bench-check: bench-install
	$(BENCH_BIN)/python -m pytest -q -p no:cacheprovider benchmarks/test_recbole_crosscheck.py

# the side-by-side table (add --recbole-bpr / --recbole-sasrec via BENCH_ARGS) and the evaluation throughput
bench: bench-check
	OMP_NUM_THREADS=1 $(BENCH_BIN)/python benchmarks/peers.py $(BENCH_ARGS)
	OMP_NUM_THREADS=1 $(BENCH_BIN)/python benchmarks/eval_throughput.py

# the README tables a benchmark script regenerates (<!-- bench:NAME --> blocks), diffed against the README;
# BENCH_README_ARGS="--full" for larger samples, "--write" to update README.md
bench-readme: install
	$(BIN)/python benchmarks/readme.py --quick $(BENCH_README_ARGS)
