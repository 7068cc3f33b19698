# One entry point for people and CI. `make run` and `make test` are the two commands the README promises.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Every process of the suite (pytest, its workers, the probes and sandboxes it starts) writes its coverage
# data here, to be combined.
COVERAGE := COVERAGE_FILE=$(CURDIR)/.coverage $(BIN)/coverage

.PHONY: run test test-fast lint fmt bench soak render debian-packages clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## run: start the main job (`kanari demo`: the embedded sandbox and the probe on all 357 municipalities)
run: $(STAMP)
	$(BIN)/kanari demo --state-dir var/demo

## debian-packages: Prometheus, Alertmanager (promtool/amtool) for the end-to-end and rule tests
debian-packages:
	@./scripts/ensure-debian-packages.sh

## lint: ruff, ruff format, mypy --strict, the import contracts (pyproject.toml), hadolint
lint: $(STAMP)
	$(BIN)/ruff check probe tests scripts bench soak
	$(BIN)/ruff format --check probe tests scripts bench soak
	$(BIN)/mypy --strict probe bench tests soak
	$(BIN)/lint-imports
	$(BIN)/hadolint Dockerfile

## test: the whole suite under branch coverage (floor and omissions in pyproject.toml), after lint: the
## tests not marked slow on every core, then the slow ones (real servers, compressed time) one at a time
test: $(STAMP) debian-packages lint
	rm -f .coverage .coverage.*
	$(COVERAGE) run -m pytest -m "not slow" -n auto
	$(COVERAGE) run -m pytest -m slow
	$(BIN)/coverage combine --quiet
	$(BIN)/coverage report

## test-fast: every test not marked slow, on every core, a tenth of the property examples: the inner loop
## (under a minute on 2 cores; no lint, no coverage)
test-fast: $(STAMP)
	$(BIN)/pytest -m "not slow" -q --hypothesis-profile=fast -n auto

fmt: $(STAMP)
	$(BIN)/ruff format probe tests scripts bench soak
	$(BIN)/ruff check --fix probe tests scripts bench soak

## render: regenerate the committed alert rules, Alertmanager config and dashboards, and the Kubernetes
## base's PrometheusRule, dashboard and configuration ConfigMaps (deploy/kubernetes/base)
render: $(STAMP)
	$(BIN)/kanari render all --config config
	$(BIN)/python -m scripts.render_kubernetes --config config

## bench: the performance benchmark, about 14 minutes (see README, Performance); figures in bench/results.json
bench: $(STAMP)
	$(BIN)/python -m bench

## soak: a simulated year on 50 routes, the learned and the fixed deadlines side by side (python -m
## soak --help); figures in soak/results.json
soak: $(STAMP)
	$(BIN)/python -m soak

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache var .coverage .coverage.* htmlcov
