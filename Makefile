# Two commands a fresh machine needs: `make demo` and `make test`.
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTHON ?= python3

.PHONY: install demo test lint clean real-data

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/recipeopt demo

test: $(STAMP)
	$(BIN)/pytest

# Real reaction data for `recipeopt benchmark --family real:NAME`, from Summit's wheel on PyPI.
real-data: $(STAMP)
	$(BIN)/python -m recipeopt.benchmark.real_data

lint: $(STAMP)
	$(BIN)/ruff check recipeopt tests benchmarks
	$(BIN)/ruff format --check recipeopt tests benchmarks

clean:
	rm -rf $(VENV) build *.egg-info
