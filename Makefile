# Two commands set everything up on a fresh machine with Python 3.11+: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test bench lint

$(STAMP): requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	touch $(STAMP)

install: $(STAMP)

run: install
	$(PY) -m devstack run

test: install
	$(PY) -m devstack test $(ARGS)

bench: bench-engine bench-hotstage bench-scaleout bench-campaign bench-runs bench-scans bench-fairness

bench-%: install
	$(PY) -m devstack bench $*
