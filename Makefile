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

.PHONY: demo test install lint bench clean

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e '.[serve,dev]' $(TORCH)
	touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/lmrec quickstart

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache
