# The two commands a newcomer needs: `make run` and `make test`. Both set up .venv themselves.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# In CI (CI=true) the slow browser, load and multi-process tests run too, on as many pytest
# workers as the machine has cores (pytest-xdist): they mostly wait on processes, browsers and
# the database, so two workers took the suite from 46-77 to 32 minutes here. A file stays on
# one worker (its module fixtures, servers and browsers start once); the slowest are listed.
PYTEST_OPTS := $(if $(CI),-n auto --dist loadfile --durations=25,-m "not slow")

# The browser's signing code (pkijs, bundled by esbuild) is built from web/ at install time:
# npm's registry, never a CDN; the bundle is not committed.
ASSETS := gateway/static/js/signing.js

.PHONY: run test lint fmt bench clean assets screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

web/node_modules/.installed: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	touch $@

$(ASSETS): web/node_modules/.installed $(wildcard web/src/*.js)
	cd web && npm run --silent build

assets: $(ASSETS)

run: $(VENV)/.installed $(ASSETS)
	$(BIN)/gateway demo

test: $(VENV)/.installed-dev $(ASSETS)
	$(BIN)/python -m pytest $(PYTEST_OPTS) $(PYTEST_ARGS)

# Every role's main pages at 1280 and 375 px on the demo's data, as PNGs in screenshots/
# (git-ignored); fails where a page scrolls sideways or axe finds a WCAG 2.1 AA violation at 375 px.
screenshots: $(VENV)/.installed-dev $(ASSETS)
	$(BIN)/python -m pytest -q -m slow tests/test_screenshots_browser.py $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check gateway forms signing common tests bench
	$(BIN)/mypy

fmt: $(VENV)/.installed-dev
	$(BIN)/ruff check --fix gateway forms signing common tests bench

bench: $(VENV)/.installed-dev
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache web/node_modules $(ASSETS)
