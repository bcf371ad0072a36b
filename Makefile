# Two commands for a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORTAIL_HOME ?= var
REFDATA ?= ../shared/refdata
PYTEST_ARGS ?=

.PHONY: install node-modules run serve demo test test-fast bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test,bench]"
	touch $@

# Front-end and test-only JavaScript comes from npm (locked), never committed. Each folder
# listed here has a package.json and a package-lock.json; `npm ci` installs exactly the lock.
# The root one copies the portal's browser builds into src/portail/web/static/vendor/ (postinstall).
NODE_PROJECTS ?= . tests/clients/js

node-modules:
	@for project in $(NODE_PROJECTS); do npm ci --prefix $$project --no-audit --no-fund --loglevel=error || exit 1; done

install: $(VENV)/.installed node-modules

demo: install
	PORTAIL_HOME=$(PORTAIL_HOME) $(BIN)/portail demo --refdata $(REFDATA)

run: demo
	PORTAIL_HOME=$(PORTAIL_HOME) $(BIN)/portail serve

serve: install
	PORTAIL_HOME=$(PORTAIL_HOME) $(BIN)/portail serve

# Bytecode written even where the environment says not to (PYTHONDONTWRITEBYTECODE): without
# it each pytest worker rewrites every test module's assertions again at each run (collection
# 15-17 s of CPU against 7 s), and each server or CLI process the tests start compiles the
# package again.
test: install
	env -u PYTHONDONTWRITEBYTECODE PORTAIL_REFDATA=$(REFDATA) $(BIN)/pytest -n 2 --dist loadfile --durations=15 $(PYTEST_ARGS)

test-fast: install
	env -u PYTHONDONTWRITEBYTECODE PORTAIL_REFDATA=$(REFDATA) $(BIN)/pytest -m "not slow" -x $(PYTEST_ARGS)

bench: install
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) $(PORTAIL_HOME) .pytest_cache
