# Two commands on a fresh clone:  `make book`  and  `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-nodeps.txt pyproject.toml | md5sum | cut -c1-12)
NOTEBOOKS := $(sort $(wildcard book/*.ipynb))
BUILD := _build
# Notebooks are executed by papermill into $(BUILD)/src, a copy of the book sources,
# and jupyter-book renders that copy; the committed notebooks stay output-free.
SRC := $(BUILD)/src
export OMP_NUM_THREADS ?= 2
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: book test setup data unit nbval clean-book study

setup: $(STAMP)

$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-nodeps.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	rm -f $(VENV)/.installed-* && touch $@

# The default synthetic data: rendered from seeds only if missing (git-ignored).
data: $(STAMP)
	$(PY) -m sspd generate --preset default --out data/synthetic --if-missing

book: data
	rm -rf $(SRC) && mkdir -p $(SRC)
	cp _config.yml _toc.yml $(SRC)/ && cp -r book _static $(SRC)/
	for nb in $(NOTEBOOKS); do \
	  echo "papermill $$nb" && \
	  $(PY) -m papermill --cwd book --log-level WARNING "$$nb" "$(SRC)/$$nb" || exit 1; \
	done
	$(VENV)/bin/jupyter-book build $(SRC) --path-output $(BUILD) -W --keep-going
	@# every executed chapter must carry its figures (a lost plotting backend once emptied them silently)
	for nb in $(NOTEBOOKS); do \
	  page=$(BUILD)/_build/html/$${nb%.ipynb}.html; \
	  grep -q '<img' "$$page" || { echo "no figures in $$page"; exit 1; }; \
	done
	@echo "Book: file://$(abspath $(BUILD))/_build/html/index.html"

unit: data
	$(PY) -m pytest -q -p no:cacheprovider tests

nbval: data
	$(PY) -m pytest -q -p no:cacheprovider --nbval-lax book

# The study grid (sspd/study/grid.py): trains, scores and publishes every item not done yet
# into data/results/study/ (resumable; about an hour of 2-core CPU per training run).
# STUDY_ARGS="--max-runs 1" (the next item), "--status", "--dry-run", "--jobs 2", "--group reference".
study: data
	$(PY) -m sspd study $(STUDY_ARGS)

test: data
	$(PY) -m pytest -q -p no:cacheprovider tests
	$(PY) -m pytest -q -p no:cacheprovider --nbval-lax book
	$(MAKE) book
