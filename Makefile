# The two commands: `make demo` (set up, run the main job on the embedded local model) and
# `make test` (set up, run lint, type checks and the whole test suite). Both create .venv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SHARED ?= $(abspath ../shared)
export MODELATLAS_DATA_DIR ?= $(SHARED)/datasets

.PHONY: setup demo test lint typecheck system-deps clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[local,dev]'
	touch $@

setup: $(VENV)/.installed

system-deps:
	bash scripts/system-deps.sh

demo: setup
	$(BIN)/modelatlas demo

lint: setup
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts

typecheck: setup
	$(BIN)/mypy

test: setup system-deps lint typecheck
	MODELATLAS_REQUIRE_POSTGRES=1 MODELATLAS_REQUIRE_LOCAL_MODEL=1 MODELATLAS_REQUIRE_BWRAP=1 $(BIN)/pytest -q

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
