# Two entry points for users (see README):  make book   and   make test
# Both create (or reuse) the local virtual environment .venv from the pinned requirements.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: book test execute env clean

$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (found " + sys.version.split()[0] + "); set PYTHON=python3.11")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -r requirements.txt
	$(BIN)/python -m pip install --no-deps --no-build-isolation -e .
	touch $(STAMP)

env: $(STAMP)

## Execute the chapters whose code (or rbmlib) changed since their outputs were saved,
## writing the outputs into the notebooks (the single source of truth), then build the HTML.
book: $(STAMP)
	$(BIN)/python tools/execute_notebooks.py
	$(BIN)/jupyter-book build --all -W -n --keep-going .
	@echo "Book written to _build/html/index.html"

## Re-run only the notebook execution step (also used by `make book`).
execute: $(STAMP)
	$(BIN)/python tools/execute_notebooks.py

## Unit tests of rbmlib + every chapter re-executed and compared with its committed outputs (nbval).
test: $(STAMP)
	$(BIN)/python -m pytest

clean:
	rm -rf _build
