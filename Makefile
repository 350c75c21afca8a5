# Lanes: `make run` serves the sample processes on http://127.0.0.1:5000, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
VENDOR := runner/web/static/vendor/MANIFEST.json
PYTEST := $(BIN)/python -m pytest -q

.PHONY: install postgres chromium apt-install run test test-sqlite test-postgresql bench clean

install: $(STAMP) $(VENDOR) chromium

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test,bench]"
	touch $(STAMP)

# The web pages' browser bundles (bpmn-js, form-js) from the committed package-lock.json, copied from
# node_modules/ into runner/web/static/vendor/ (git-ignored). node and npm come from Debian when missing.
$(VENDOR): package-lock.json $(STAMP)
	@if ! command -v npm >/dev/null 2>&1; then $(MAKE) --no-print-directory apt-install PACKAGES="nodejs npm"; fi
	@npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null
	@$(BIN)/python -c 'import sys; from runner.web.assets import main; sys.exit(main())'

# Debian's chromium, for the browser tests (tests/web): Playwright drives /usr/bin/chromium, since
# `playwright install` cannot download here. Installed once, as root or through password-less sudo;
# skipped when there; without root or sudo, a warning (the browser tests then say what is missing).
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ] || sudo -n true 2>/dev/null; then $(MAKE) --no-print-directory apt-install PACKAGES=chromium; \
	  else echo "chromium missing: run 'sudo apt-get install chromium' for the browser tests" >&2; fi; \
	fi

# apt-get install $(PACKAGES), quietly, as root or through password-less sudo.
apt-install:
	@if [ "$$(id -u)" = 0 ]; then SUDO=; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; \
	else echo "$(PACKAGES) missing: run 'sudo apt-get install $(PACKAGES)' (or make install as root)" >&2; exit 1; fi; \
	echo "installing $(PACKAGES) (apt-get install)"; log=$$(mktemp); \
	{ $$SUDO apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(PACKAGES); \
	} >$$log 2>&1 || { cat $$log >&2; rm -f $$log; exit 1; }; rm -f $$log

# Debian's PostgreSQL server programs (/usr/lib/postgresql/<major>/bin), for the tests' throwaway
# cluster (tests/postgres.py). Installed once, as root or through password-less sudo; skipped when there.
postgres:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  $(MAKE) --no-print-directory apt-install PACKAGES=postgresql; fi

run: install
	$(BIN)/lanes run --processes processes --forms-dir forms --host 127.0.0.1 --port 5000

# The whole suite twice: on SQLite, then on a PostgreSQL cluster the tests start and remove themselves
# (both run even when the first fails; the target fails if either did).
test: install postgres
	@status=0; \
	echo "== the suite on SQLite"; LANES_TEST_DB=sqlite $(PYTEST) || status=1; \
	echo "== the suite on PostgreSQL"; LANES_TEST_DB=postgresql $(PYTEST) || status=1; \
	exit $$status

test-sqlite: install
	LANES_TEST_DB=sqlite $(PYTEST)

test-postgresql: install postgres
	LANES_TEST_DB=postgresql $(PYTEST)

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) instance .pytest_cache node_modules runner/web/static/vendor
