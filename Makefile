# The two commands a newcomer needs: `make run` and `make test`.
# Each creates the virtual environment in .venv on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
# Test processes at once (pytest-xdist): each starts its own PostgreSQL and Redis.
TEST_WORKERS ?= 2

.PHONY: run test lint catalogs

run: $(INSTALLED)
	$(BIN)/civicbot

test: $(INSTALLED)
	$(BIN)/python -m pytest -n $(TEST_WORKERS)

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# After changing user-visible strings: refresh the template and merge it into each catalog.
catalogs: $(INSTALLED)
	$(BIN)/pybabel extract -F locales/babel.cfg --no-default-keywords -k tr -k plural:1,2 -k N_ \
		--no-location --sort-output --project civicbot --copyright-holder civicbot \
		-o locales/messages.pot .
	$(BIN)/pybabel update -i locales/messages.pot -d locales --width 100

$(INSTALLED): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "civicbot needs Python 3.11 or newer (set PYTHON=python3.x)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(INSTALLED)
