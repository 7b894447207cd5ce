# The two commands of the README: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
export VAULT_HOME ?= $(CURDIR)/var

.PHONY: setup run test test-pg lint bench clean mutation

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

## make test: lint, type-check, then the whole suite (SQLite index; real SeaweedFS and TSA),
## in PYTEST_WORKERS processes (pytest-xdist; each starts its own SeaweedFS and TSA)
PYTEST_WORKERS ?= 2
test: setup lint
	$(BIN)/pytest -q -n $(PYTEST_WORKERS)

## make test-pg: the whole suite again with the index on PostgreSQL
test-pg: setup
	VAULT_TEST_DATABASE_URL=$(PG_URL) $(BIN)/pytest -q -n $(PYTEST_WORKERS)

lint: setup
	$(BIN)/ruff check vault tests bench
	$(BIN)/ruff format --check vault tests bench
	$(BIN)/mypy

## make bench: the benchmarks of bench/ (not part of the tests)
bench: setup
	$(BIN)/python -m bench.run

## make mutation: mutmut over the pure modules of [tool.mutmut] (pyproject.toml), each against
## its own unit tests only, in build/mutation/<module>/; not part of `make test` (docs/testing.md).
## MODULES="vault/tree/hashtree.py" runs one; MUTATION_JOBS sets mutmut's --max-children.
MODULES ?=
MUTATION_JOBS ?= 2
define MUTATION_PY
import json, os, pathlib, shutil, subprocess, sys, tomllib
root = pathlib.Path.cwd()
conf = tomllib.loads((root / "pyproject.toml").read_text())
base = conf["tool"]["mutmut"]
pairs = dict(zip(base["only_mutate"], base["pytest_add_cli_args_test_selection"], strict=True))
wanted = sys.argv[1].split() or list(pairs)
mutmut = str(root / sys.argv[2])
scores = []
for module in wanted:
    work = root / "build" / "mutation" / pathlib.Path(module).stem
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    for name in ("vault", "tests"):
        (work / name).symlink_to(root / name)
    cfg = {**base, "only_mutate": [module], "pytest_add_cli_args_test_selection": [pairs[module]]}
    lines = ["[tool.mutmut]", *(f"{k} = {json.dumps(v)}" for k, v in cfg.items()), "", "[tool.pytest.ini_options]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in conf["tool"]["pytest"]["ini_options"].items()]
    (work / "pyproject.toml").write_text("\n".join(lines) + "\n")
    print(f"== {module} against {pairs[module]} ({work})", flush=True)
    subprocess.run([mutmut, "run", "--max-children", sys.argv[3]], cwd=work, check=True)
    subprocess.run([mutmut, "export-cicd-stats"], cwd=work, check=True, capture_output=True)
    stats = json.loads((work / "mutants" / "mutmut-cicd-stats.json").read_text())
    scores.append((module, stats))
    subprocess.run([mutmut, "results"], cwd=work, check=False)
for module, st in scores:
    tested = st["total"] - st.get("skipped", 0)
    print(f"{module}: {st['killed']}/{tested} killed, {st['survived']} survived, {st['no_tests']} not covered")
endef
export MUTATION_PY

mutation: setup
	$(BIN)/python -c "$$MUTATION_PY" "$(MODULES)" $(BIN)/mutmut $(MUTATION_JOBS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
