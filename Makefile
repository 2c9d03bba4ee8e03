# `make run` and `make test` set everything up on a fresh machine: they create .venv when it
# is missing and (re)install the project whenever pyproject.toml changes.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench bench-cycle install catalogs i18n-extract i18n-update demo

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP) catalogs
	$(BIN)/gigaspot-bot run

test: $(STAMP) catalogs
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

# The bot on a simulated market with a chat page in the browser; Ctrl-C stops everything.
demo: $(STAMP) catalogs
	$(BIN)/gigaspot-bot demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/gigaspot-bot bench

bench-cycle: $(STAMP)
	$(BIN)/gigaspot-bot bench --cycle

# Translations: `make i18n-extract` writes the template of every marked text,
# `make i18n-update` merges it into each language's messages.po, `make catalogs` compiles
# the .po files (the bot also reads a .po directly when its .mo is missing or older).
LOCALE := bot/locale

i18n-extract: $(STAMP)
	$(BIN)/pybabel extract --no-location --omit-header -k gettext -k ngettext:1,2 -k N_ -k Say -k UserError -k say_n:1,2 -o $(LOCALE)/messages.pot bot

i18n-update: i18n-extract
	$(BIN)/pybabel update --no-fuzzy-matching --omit-header -i $(LOCALE)/messages.pot -d $(LOCALE) -D messages

catalogs: $(STAMP)
	for po in $(LOCALE)/*/LC_MESSAGES/*.po; do $(BIN)/pybabel compile -i "$$po" -o "$${po%.po}.mo" >/dev/null; done
