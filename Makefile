# One entry point for people and CI. `make run` and `make test` are the two commands the README promises.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint fmt bench render debian-packages clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## run: start the main job (`kanari demo`: the embedded sandbox and the probe on all 357 municipalities)
run: $(STAMP)
	$(BIN)/kanari demo

## debian-packages: Prometheus, Alertmanager (promtool/amtool) for the end-to-end and rule tests
debian-packages:
	@./scripts/ensure-debian-packages.sh

## lint: ruff, ruff format, mypy --strict, hadolint
lint: $(STAMP)
	$(BIN)/ruff check probe tests scripts bench
	$(BIN)/ruff format --check probe tests scripts bench
	$(BIN)/mypy --strict probe bench tests
	$(BIN)/hadolint Dockerfile

## test: the whole suite (lint first, then pytest)
test: $(STAMP) debian-packages lint
	$(BIN)/pytest

fmt: $(STAMP)
	$(BIN)/ruff format probe tests scripts bench
	$(BIN)/ruff check --fix probe tests scripts bench

## render: regenerate the committed alert rules, Alertmanager config and dashboards
render: $(STAMP)
	$(BIN)/kanari render all --config config

## bench: the performance benchmark, about 8 minutes (see README, Performance); figures in bench/results.json
bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache var
