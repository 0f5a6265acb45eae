# `make run` and `make test` set up everything they need on first use.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup run chat migrate test lint format bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)

## The product on the embedded default (SQLite + in-process state; no server, no tokens).
## The shipped profile quest is created on the first run only: one the shop ended stays ended.
run: setup
	$(PY) main.py migrate
	$(PY) main.py quest-create --profile --if-missing
	$(PY) main.py run

chat: setup
	$(PY) main.py chat

migrate: setup
	$(PY) main.py migrate

## The whole suite: lint, types, then every test on the embedded default and on PostgreSQL +
## Redis (the latter skipped when they are not reachable, except with CI=true, where it fails).
## mypy checks the whole tree (core/ strictly, the rest at mypy's default; see pyproject.toml).
test: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy .
	$(PY) -m pytest -n auto

lint: setup
	$(PY) -m ruff check .

format: setup
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

bench: setup
	$(PY) bench/updates.py --backend services

clean:
	rm -rf $(VENV) data *.egg-info
