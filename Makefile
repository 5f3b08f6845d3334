# Entry points for users (see README):  make book (read),  make lab (explore),  make test (test)
# All three create (or reuse) the local virtual environment .venv from the pinned requirements.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: book test test-quick test-portable ci execute env clean browser

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
	$(BIN)/python tools/make_headline_figure.py
	$(BIN)/jupyter-book build --all -W -n --keep-going .
	@echo "Book written to _build/html/index.html"

## Explore the course in JupyterLab (third entry point, same .venv): the chapters' explorers (ipywidgets
## sliders) run, Markdown cells are rendered as MyST (jupyterlab-myst). Listens on 127.0.0.1 only; more
## options with LAB_ARGS, e.g.  make lab LAB_ARGS="--no-browser --port=8899". As root (a container), --allow-root
## is passed, since Jupyter refuses to start as root otherwise.
LAB_ARGS ?=
.PHONY: lab
lab: $(STAMP)
	$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.root_dir="$(CURDIR)" \
	  --LabApp.default_url=/lab/tree/chapters $$([ "$$(id -u)" = 0 ] && echo --allow-root) $(LAB_ARGS)

## Re-run only the notebook execution step (also used by `make book`).
execute: $(STAMP)
	$(BIN)/python tools/execute_notebooks.py

## Unit tests of rbmlib + every chapter re-executed and compared with its committed outputs (nbval)
## + the browser test of the built book (tests/test_book.py, needs Chromium: see `browser`).
test: $(STAMP) browser
	$(BIN)/python -m pytest

## Quick unit run for contributors (no chapter re-execution, no book build, no browser): a few minutes.
test-quick: $(STAMP)
	$(BIN)/python -m pytest -m "not notebooks and not browser"

## The portability pass (CI runs it after `make test`): every chapter re-executed under nbval and the
## bit-identity tests, with numpy's highest SIMD dispatch level switched off (tools/simd_fallback.py:
## an AVX-512 machine computes like an AVX2 one, an AVX2 machine like an SSE4.2 one) and numba compiling
## for a generic x86-64 CPU into its own cache. Committed outputs must come out identical.
test-portable: $(STAMP)
	@features="$$($(BIN)/python tools/simd_fallback.py)"; cache="$$(mktemp -d)"; \
	$(BIN)/python tools/simd_fallback.py --describe; \
	echo "Portability pass: NPY_DISABLE_CPU_FEATURES='$$features' NUMBA_CPU_NAME=generic NUMBA_CACHE_DIR=$$cache"; \
	NPY_DISABLE_CPU_FEATURES="$$features" $(BIN)/python tools/simd_fallback.py --describe; \
	NPY_DISABLE_CPU_FEATURES="$$features" NUMBA_CPU_NAME=generic NUMBA_CACHE_DIR="$$cache" \
	  $(BIN)/python -m pytest -m "notebooks or bitidentity"; status=$$?; rm -rf "$$cache"; exit $$status

## What CI runs (.ci/run): the full test, then the portability pass.
ci: test test-portable

## Chromium for the browser test of the book. Found (or CHROMIUM=/path/to/chrome given): nothing to do.
## Missing: installed with apt-get when running as root (as CI does), else what to install is printed
## and tests/test_book.py fails with the same message.
CHROMIUM_NAMES = chromium chromium-browser google-chrome google-chrome-stable
browser:
	@if [ -n "$$CHROMIUM" ]; then exit 0; fi; \
	for b in $(CHROMIUM_NAMES); do command -v $$b >/dev/null 2>&1 && exit 0; done; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "Installing Chromium for the browser test of the book: apt-get install chromium"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
	    || echo "WARNING: apt-get install chromium failed; tests/test_book.py will fail until Chromium is installed."; \
	else \
	  echo "WARNING: the browser test of the book needs Chromium. Install it with"; \
	  echo "           sudo apt-get install chromium      (Debian/Ubuntu)"; \
	  echo "         or point CHROMIUM at a Chromium/Chrome executable: CHROMIUM=/path/to/chrome make test"; \
	  echo "         Until then tests/test_book.py fails."; \
	fi

clean:
	rm -rf _build
