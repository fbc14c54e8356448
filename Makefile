# The two commands of the README are the contract:
#   make book   set up (.venv, requirements, offline MathJax) and build the HTML book into _build/html
#   make test   set up the same way and run the whole test suite
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
MATHJAX := book/_static/mathjax/tex-chtml.js

.PHONY: book test setup lint release clean gpu-test bench lab
.DEFAULT_GOAL := book

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(MATHJAX):
	bash scripts/install_mathjax.sh book/_static/mathjax

setup: $(VENV)/.installed $(MATHJAX)

book: setup
	PATH="$(abspath $(BIN)):$$PATH" bash scripts/build_book.sh

test: setup
	bash scripts/install_system_deps.sh
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest $(PYTEST_ARGS)

gpu-test: setup
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest -m gpu -v $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .

release: setup
	$(BIN)/python -m autograder release

# Students: JupyterLab on copies of the exercises (my-work/), course environment, no nbgrader instructor panels.
lab: setup
	bash scripts/student_lab.sh $(LAB_ARGS)

bench: setup
	bash scripts/install_system_deps.sh
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python bench/bench_build.py
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python bench/bench_grading.py
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python bench/bench_dask.py

clean:
	rm -rf _build
