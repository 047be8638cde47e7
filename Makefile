# One entry point per task; .ci/run calls `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test style types unit bench clean

$(STAMP): pyproject.toml package.json
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,fast,redis]'
	npm install --no-audit --no-fund --loglevel=error
	touch $(STAMP)

setup: $(STAMP)

## Start the chat service on http://127.0.0.1:$(PORT) (embedded defaults, no other service;
## data in ./roomcast-data): `make demo`, `make demo PORT=8080`, `make demo WORKERS=4`.
PORT ?= 3000
WORKERS ?= 1
demo: setup
	$(BIN)/roomcast chat --port $(PORT) --workers $(WORKERS)

style: setup
	$(BIN)/ruff check src tests examples bench fuzz
	$(BIN)/ruff format --check src tests examples bench fuzz

types: setup
	$(BIN)/mypy

unit: setup
	$(BIN)/pytest -q

## The whole suite: lint, format, types, then every test.
test: style types unit

clean:
	rm -rf $(VENV) node_modules .mypy_cache .ruff_cache .pytest_cache
