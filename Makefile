# The two entry points: `make run` (build the demo warehouse and summarize it)
# and `make test` (lint + every test). Each creates the virtualenv if missing.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
DBT := $(BIN)/dbt
DBT_FLAGS := --project-dir . --profiles-dir .

.PHONY: run test install lint format data docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

run: install
	mkdir -p warehouse
	@# The demo's loader: seeds fill schema `raw` (in production your EL tool does).
	$(DBT) seed $(DBT_FLAGS)
	@# The scheduled job: dbt build, then publish for BI only if everything passed.
	$(BIN)/python -m precision_marketing.build $(DBT_FLAGS) --exclude resource_type:seed
	$(BIN)/python -m precision_marketing.summary

test: install lint
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/sqlfluff lint models tests

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
	$(BIN)/sqlfluff fix models tests

# Regenerate the committed demo seeds (deterministic: same bytes every time).
data: install
	$(BIN)/python -m precision_marketing.datagen --customers 4000 --seed 42 --out seeds --format csv

clean:
	rm -rf target logs warehouse
