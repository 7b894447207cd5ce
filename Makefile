# The two commands of the README: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
export VAULT_HOME ?= $(CURDIR)/var

.PHONY: setup run test test-pg lint bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is required"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

setup: $(STAMP)

## make run: initialise $(VAULT_HOME) (idempotent) and run the embedded vault in the foreground
run: setup
	$(BIN)/vault init
	$(BIN)/vault up

## make test: lint, type-check, then the whole suite (SQLite index; real SeaweedFS and TSA)
test: setup lint
	$(BIN)/pytest -q

## make test-pg: the whole suite again with the index on PostgreSQL
test-pg: setup
	VAULT_TEST_DATABASE_URL=$(PG_URL) $(BIN)/pytest -q

lint: setup
	$(BIN)/ruff check vault tests bench
	$(BIN)/ruff format --check vault tests bench
	$(BIN)/mypy

## make bench: the benchmarks of bench/ (not part of the tests)
bench: setup
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
