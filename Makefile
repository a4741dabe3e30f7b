# Two commands set up everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: run test test-sqlite test-postgres bench lint format clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(STAMP)

## Serve on http://127.0.0.1:8000 with the built-in worker (migrates, seeds demo data).
run: $(STAMP)
	$(BIN)/creditdesk db upgrade
	$(BIN)/creditdesk demo --if-empty
	$(BIN)/creditdesk serve

## The whole suite on SQLite, then on PostgreSQL when CREDITDESK_TEST_DATABASE_URL is set.
test: $(TEST_STAMP)
	$(BIN)/pytest -q
	@if [ -n "$$CREDITDESK_TEST_DATABASE_URL" ]; then \
		CREDITDESK_TEST_BACKEND=postgresql $(BIN)/pytest -q; \
	else \
		echo "CREDITDESK_TEST_DATABASE_URL is unset: PostgreSQL run skipped"; \
	fi

test-sqlite: $(TEST_STAMP)
	$(BIN)/pytest -q

test-postgres: $(TEST_STAMP)
	CREDITDESK_TEST_BACKEND=postgresql $(BIN)/pytest -q

$(BENCH_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $@ $(TEST_STAMP) $(STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python -m bench

lint: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(TEST_STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) data .pytest_cache
